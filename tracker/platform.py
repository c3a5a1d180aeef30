"""The platform's status request (docs/webhook.md), JSON or XML: an adapter over HTTP."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

import httpx

XML_BATCH = 100  # ids per XML status request: the page sets no limit; this keeps each one small
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # an answer past this is not one the documented shapes make
CHANNELS = ("sms", "viber")  # the XML answer's status per channel, when the message had them
_DIGITS = re.compile(r"[0-9]{1,19}")


class PlatformError(Exception):
    """The status request failed as a whole: refused, unreachable, or an answer of another shape.
    Its text is one line for an operator and never holds the credentials."""


@dataclass(frozen=True, slots=True)
class Polled:
    """The platform's answer for one message: its state now, as the platform reports it."""

    id_sms: int
    state: str
    time: str  # time_change_state (JSON) or the time attribute (XML), as sent
    num_parts: int | None = None
    price: float | None = None
    channels: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    """A token, or a login and password (the token wins when both are given)."""

    token: str = ""
    login: str = ""
    password: str = ""

    def __repr__(self) -> str:  # never shown
        return "Credentials(***)"

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.token, self.login, self.password) if s)


class PlatformClient:
    """Asks the platform for the state of messages, ``batch`` ids a request (1 in JSON)."""

    def __init__(
        self,
        url: str,
        fmt: Literal["json", "xml"],
        credentials: Credentials,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.url, self.format, self._credentials = url, fmt, credentials
        self.batch = XML_BATCH if fmt == "xml" else 1
        parts = urlsplit(url)
        # How the URL is shown: any user and password it carried left out.
        self.shown = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
        self._timeout, self._transport = timeout, transport
        self._http = self._new_client()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def ask(self, ids: Sequence[int]) -> list[Polled]:
        """The answers for these ids (at most ``batch``), in the platform's order, each kept
        (two for one id are two reports: the rules decide); an id the platform did not
        answer for has none. Raises ``PlatformError``."""
        if not ids or len(ids) > self.batch:
            raise ValueError(f"ask about 1 to {self.batch} ids a request, not {len(ids)}")
        try:
            if self.format == "json":
                body, kind = self._json_request(ids[0]), "text/json"
            else:
                body, kind = self._xml_request(ids), "text/xml"
            status, text = self._post(body, f"{kind}; charset=utf-8")
            refusal = _refusal(text)
            if refusal is not None:  # the platform's own words, any credential echoed hidden
                refusal = self._hidden(refusal)
                raise PlatformError(f"the platform refused the status request: {refusal}")
            if status != 200:
                raise PlatformError(f"the platform answered HTTP {status} to the status request")
            answers = _json_answer(text) if self.format == "json" else _xml_answer(text)
            unasked = sorted(a.id_sms for a in answers if a.id_sms not in ids)
            if unasked:
                raise PlatformError(f"the platform answered for id_sms {unasked[0]}, not asked")
            return answers
        except PlatformError as e:  # one line, whatever was in it
            raise PlatformError(" ".join(str(e).split())[:300]) from None

    def _post(self, body: bytes, content_type: str) -> tuple[int, str]:
        """The answer's status and text, whole within the timeout, headers and body: a platform
        dripping either a byte at a time is cut off at the deadline (the library's timeouts
        are per read). The exchange runs in a thread of its own; one past the deadline is left
        to end by itself (a daemon), with a client of its own, and a new one is made here."""
        outcome: list[tuple[int, str] | BaseException] = []
        done = threading.Event()

        def exchange(http: httpx.Client) -> None:
            try:
                outcome.append(self._exchange(http, body, content_type))
            except BaseException as e:  # handed to the waiting thread
                outcome.append(e)
            finally:
                done.set()

        http = self._http
        threading.Thread(target=exchange, args=(http,), daemon=True).start()
        if not done.wait(self._timeout + 1):
            self._http = self._new_client()  # the stuck one stays with its thread
            raise PlatformError(
                f"the platform at {self.shown} did not answer within {self._timeout:g} s"
            )
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            timeout=self._timeout,
            transport=self._transport,
            follow_redirects=False,
            trust_env=False,
        )

    def _exchange(self, http: httpx.Client, body: bytes, content_type: str) -> tuple[int, str]:
        deadline = time.monotonic() + self._timeout
        try:
            with http.stream(
                "POST", self.url, content=body, headers={"Content-Type": content_type}
            ) as answer:
                data = bytearray()
                for chunk in answer.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER_BYTES:
                        raise PlatformError(
                            f"the platform's answer is longer than {MAX_ANSWER_BYTES} bytes"
                        )
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the answer's deadline passed")
        except httpx.TimeoutException:
            raise PlatformError(
                f"the platform at {self.shown} did not answer within {self._timeout:g} s"
            ) from None
        except httpx.InvalidURL as e:
            raise PlatformError(f"TRACKER_PLATFORM_URL cannot be asked: {e}") from None
        except UnicodeError:  # a host name no resolver takes (an empty or 64+ character label)
            raise PlatformError(
                f"cannot reach the platform at {self.shown}: its host name is not valid"
            ) from None
        except httpx.HTTPError as e:
            reason = _transport_reason(e)
            raise PlatformError(f"cannot reach the platform at {self.shown}: {reason}") from None
        try:
            return answer.status_code, data.decode("utf-8")
        except UnicodeDecodeError:
            raise PlatformError("the platform's answer is not UTF-8 text") from None

    def _json_request(self, id_sms: int) -> bytes:
        item: dict[str, object] = self._fields()
        item.update(id_sms=id_sms, detail=1)
        return json.dumps([item], ensure_ascii=False).encode()

    def _xml_request(self, ids: Sequence[int]) -> bytes:
        security = "".join(f"<{k} value={quoteattr(v)}/>" for k, v in self._fields().items())
        asked = "".join(f"<id_sms>{n}</id_sms>" for n in ids)
        return (
            '<?xml version="1.0" encoding="utf-8" ?>\n'
            f"<request><security>{security}</security><get_state>{asked}</get_state></request>"
        ).encode()

    def _fields(self) -> dict[str, object]:
        c = self._credentials
        return {"token": c.token} if c.token else {"login": c.login, "password": c.password}

    def _hidden(self, text: str) -> str:
        """The credentials replaced, should the platform have echoed any."""
        for secret in self._credentials.secrets:
            text = text.replace(secret, "***")
        return text


def _transport_reason(error: httpx.HTTPError) -> str:
    cause: BaseException | None = error
    while cause is not None:  # the OS's words (connection refused), not the library's wrapping
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    if isinstance(error, httpx.RemoteProtocolError):
        return "the connection closed without an answer"
    return type(error).__name__


def _refusal(text: str) -> str | None:
    """The platform's error (``{"error": "..."}``, or ``<error>`` in XML), whatever the status."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            return None
        if isinstance(value, dict) and isinstance(value.get("error"), str):
            return value["error"] or "(no reason given)"
    elif stripped.startswith("<") and "<error" in stripped:
        try:
            root = _parse_xml(stripped)
        except PlatformError:
            return None
        errors = [e for e in root.walk() if e.name == "error"]
        if errors:
            return errors[0].text.strip() or "(no reason given)"
    return None


def _json_answer(text: str) -> list[Polled]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to read
        raise PlatformError("the platform's answer is not JSON") from None
    if not isinstance(value, list):
        raise PlatformError("the platform's answer is not a JSON array")
    answers = []
    for item in value:
        if not isinstance(item, dict):
            raise PlatformError("the platform's answer holds an item that is not an object")
        state, time = item.get("state"), item.get("time_change_state")
        num_parts, price = item.get("num_parts"), item.get("price")
        if not _is_text(state) or not _is_text(time):
            raise PlatformError("the platform's answer has an item without state and time")
        if num_parts is not None and (type(num_parts) is not int or not 0 <= num_parts < 2**31):
            raise PlatformError("the platform's answer has a num_parts that is not a count")
        if price is not None and (
            type(price) not in (int, float) or not math.isfinite(price) or abs(price) >= 2**53
        ):
            raise PlatformError("the platform's answer has a price that is not a number")
        answers.append(Polled(_id(item.get("id_sms")), state, time, num_parts,
                              None if price is None else float(price)))  # fmt: skip
    return answers


def _is_text(value: object) -> bool:
    """A string that is text: JSON's escapes can spell a lone surrogate, which no store keeps."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _id(value: object) -> int:
    if type(value) is int and 0 <= value < 2**63:
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value) and int(value) < 2**63:
        return int(value)
    raise PlatformError("the platform's answer has an id_sms that is not a message number")


@dataclass
class _Element:
    name: str
    attributes: dict[str, str]
    children: list[_Element]
    text: str = ""

    def walk(self) -> list[_Element]:
        found, todo = [], [self]
        while todo:  # no recursion: a deeply nested answer costs a list, not the stack
            element = todo.pop()
            found.append(element)
            todo.extend(reversed(element.children))
        return found


def _parse_xml(text: str) -> _Element:
    """The document's tree, read by expat with no DTD and no entity of its own: a DOCTYPE, an
    entity declaration or an entity that is not XML's own makes it refused."""

    def refuse(*_: object) -> None:
        raise PlatformError("the platform's answer declares a DTD or entities")

    parser = expat.ParserCreate("utf-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SkippedEntityHandler = refuse
    stack: list[_Element] = [_Element("", {}, [])]

    def start(name: str, attributes: dict[str, str]) -> None:
        element = _Element(name, attributes, [])
        stack[-1].children.append(element)
        stack.append(element)

    def end(_name: str) -> None:
        stack.pop()

    def data(chunk: str) -> None:
        stack[-1].text += chunk

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(text.encode(), True)
    except expat.ExpatError as e:
        raise PlatformError(f"the platform's answer is not well-formed XML ({e})") from None
    return stack[0].children[0]


def _xml_answer(text: str) -> list[Polled]:
    root = _parse_xml(text)
    if root.name != "response":
        raise PlatformError("the platform's answer is not a <response> element")
    answers = []
    for element in root.children:
        if element.name != "state":
            raise PlatformError("the platform's answer holds an element other than <state>")
        attributes = element.attributes
        if "id_sms" not in attributes or "time" not in attributes:
            raise PlatformError("the platform's answer has a <state> without id_sms and time")
        channels = {c: attributes[c] for c in CHANNELS if c in attributes}
        answers.append(Polled(_id(attributes["id_sms"]), element.text.strip(),
                              attributes["time"], channels=channels or None))  # fmt: skip
    return answers
