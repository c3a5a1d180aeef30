"""A TCP proxy in front of PostgreSQL that a test can cut and restore: to the tracker, a cut
looks like the database server stopping (every connection dropped, new ones refused)."""

from __future__ import annotations

import contextlib
import socket
import threading


class Proxy:
    def __init__(self, target: tuple[str, int]):
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        listener, self._listener = self._listener, None
        if listener:
            # A close alone leaves the port listening while the accepting thread is blocked in
            # accept() (the call holds the socket): shutting it down wakes that thread.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._open.clear()

    def upstream_ports(self) -> list[int]:
        """The local ports of the proxy's connections to the database (its client_port there)."""
        with self._lock:
            return [
                s.getsockname()[1]
                for s in self._open
                if s.fileno() != -1 and s.getpeername()[1] == self.target[1]
            ]

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)


def proxied(postgres_url: str) -> tuple[Proxy, str]:
    """A started proxy in front of the local PostgreSQL, and ``postgres_url`` through it."""
    proxy = Proxy(("127.0.0.1", 5432))
    proxy.start()
    return proxy, postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
