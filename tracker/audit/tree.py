"""The audit tree as stored beside the views: its hashes in tiles of 256, and its heads.

Tiles (after Go's checksum database, golang.org/x/mod/sumdb/tlog): level 0 holds the leaf
hashes, 256 a row, with each leaf's notification id and originator id (what names an event
that later went missing); level k holds the roots of the complete subtrees of 256**k leaves.
Any subtree's root is then one tile read and at most 255 hashes away, so a proof reads a few
rows however long the log, and the whole tree costs 32 bytes a leaf plus its 24-byte key.

Heads: ``tree`` is where the follower has got to (size, the notification id it has covered,
root, the frontier's peaks); ``verified`` what the last ``tracker verify`` found sound. A head
moves by compare-and-set on its size, so two followers never both extend it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from tracker.domain.merkle import EMPTY_ROOT, Frontier, root, subtree_root
from tracker.views.store import ViewStore
from tracker.views.tables import from_micros, micros

TILE_HEIGHT = 8
TILE = 1 << TILE_HEIGHT
KEY = 24  # a leaf's key in a level-0 tile: notification id (8 bytes) and originator id (16)
TREE, VERIFIED, FAILED = "tree", "verified", "failed"


class TreeDamaged(RuntimeError):
    """The stored tree lacks what its head says it holds: its tables were edited."""


@dataclass(frozen=True, slots=True)
class Head:
    """A tree head: ``size`` leaves covering the log up to notification id ``position``."""

    size: int
    position: int
    root: bytes
    peaks: tuple[bytes, ...]
    at: datetime | None

    def frontier(self) -> Frontier:
        return Frontier(self.size, self.peaks)


EMPTY = Head(0, 0, EMPTY_ROOT, (), None)


@dataclass(frozen=True, slots=True)
class Leaf:
    position: int  # 0-based, in log order
    notification_id: int
    originator: bytes
    hash: bytes


class AuditTree:
    """The stored tree, in the tables of a view store's database."""

    def __init__(self, views: ViewStore):
        self.views = views
        self.datastore: Any = views.datastore  # type: ignore[attr-defined]
        t = views.tables
        self.tiles, self.heads_table, self.p = (
            t.table("audit_tiles"),
            t.table("audit_heads"),
            t.placeholder,
        )
        self.blob, self.int = t.blob_type, t.id_type

    def create(self) -> AuditTree:
        b, i = self.blob, self.int
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.tiles} (level INTEGER NOT NULL, tile {i} "
                f"NOT NULL, first_id {i}, hashes {b} NOT NULL, keys {b}, PRIMARY KEY (level, tile))"
            )
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.heads_table} (name TEXT PRIMARY KEY, "
                f"size {i} NOT NULL, position {i} NOT NULL, root {b} NOT NULL, "
                f"peaks {b} NOT NULL, at {i})"
            )
            index = self.views.tables.table("audit_tiles_by_first_id").split(".")[-1]
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {self.tiles} (level, first_id)")
        return self

    # Heads

    def head(self, name: str = TREE) -> Head:
        return self.heads().get(name, EMPTY)

    def heads(self) -> dict[str, Head]:
        """Every head there is, by name (``tree``, ``verified``, ``failed``), in one read."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.heads_table}")
            rows = cursor.fetchall()
        return {row["name"]: _head(row) for row in rows}

    def verified(self) -> Head | None:
        return self.heads().get(VERIFIED)

    def failed(self) -> Head | None:
        """The last verification that found the history changed, if none sound came since."""
        return self.heads().get(FAILED)

    def record_verified(self, head: Head, *, sound: bool = True) -> None:
        """What a verification found: sound (the ``verified`` head; a failure before is
        cleared) or not (the ``failed`` head, kept until one is sound again)."""
        with self.datastore.transaction(commit=True) as cursor:
            self._put_head(cursor, VERIFIED if sound else FAILED, head)
            if sound:
                cursor.execute(f"DELETE FROM {self.heads_table} WHERE name = {self.p}", (FAILED,))

    def _put_head(self, cursor: Any, name: str, head: Head, was: int | None = None) -> None:
        p = self.p
        values = (head.size, head.position, head.root, b"".join(head.peaks), micros(head.at))
        if was is not None:  # compare-and-set: only from the size it was read at
            cursor.execute(
                f"UPDATE {self.heads_table} SET size = {p}, position = {p}, root = {p}, "
                f"peaks = {p}, at = {p} WHERE name = {p} AND size = {p} RETURNING name",
                (*values, name, was),
            )
            if cursor.fetchone() is not None:
                return
            if was:
                raise IntegrityError(f"the audit tree moved on from {was} leaves meanwhile")
        cursor.execute(
            f"INSERT INTO {self.heads_table} (name, size, position, root, peaks, at) VALUES "
            f"({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (name) DO "
            + ("NOTHING RETURNING name" if was is not None else
               "UPDATE SET size = excluded.size, position = excluded.position, "
               "root = excluded.root, peaks = excluded.peaks, at = excluded.at RETURNING name"),
            (name, *values),
        )  # fmt: skip
        if cursor.fetchone() is None:
            raise IntegrityError("another follower began the audit tree meanwhile")

    # Growing

    def append(
        self, before: Head, leaves: Sequence[tuple[int, bytes, bytes]], position: int, at: datetime
    ) -> Head:
        """The tree ``before`` with ``leaves`` (notification id, originator id, leaf hash)
        added, covering the log up to ``position``; written with its tiles in one transaction,
        refused (IntegrityError) if the stored head is no longer ``before``."""
        frontier = before.frontier()
        for _, _, leaf in leaves:
            frontier.append(leaf)
        after = Head(frontier.size, position, frontier.root(), tuple(frontier.peaks), at)
        with self.datastore.transaction(commit=True) as cursor:
            self._put_head(cursor, TREE, after, was=before.size)  # first: it is the lock
            keys = [n.to_bytes(8, "big", signed=True) + o for n, o, _ in leaves]
            level, start, hashes = 0, before.size, [h for _, _, h in leaves]
            while hashes:
                hashes = self._extend(cursor, level, start, hashes, keys if level == 0 else None)
                level, start = level + 1, start >> TILE_HEIGHT
        return after

    def _extend(
        self, cursor: Any, level: int, start: int, hashes: list[bytes], keys: list[bytes] | None
    ) -> list[bytes]:
        """Put ``hashes`` at ``start``.. of ``level``; return the roots of the tiles they
        completed (the next level's new hashes)."""
        first_tile, end = start // TILE, start + len(hashes)
        held_hashes, held_keys = b"", b""
        if start % TILE:  # the partial tile they continue
            held = self._tile(cursor, level, first_tile)
            held_hashes, held_keys = bytes(held["hashes"]), bytes(held["keys"] or b"")
        all_hashes = split_hashes(held_hashes) + hashes
        all_keys = [held_keys[i : i + KEY] for i in range(0, len(held_keys), KEY)] + (keys or [])
        completed, p = [], self.p
        for tile in range(first_tile, (end - 1) // TILE + 1):
            lo = tile * TILE - first_tile * TILE
            part = all_hashes[lo : lo + TILE]
            tile_keys = b"".join(all_keys[lo : lo + TILE]) if keys is not None else None
            first = first_id(all_keys[lo]) if keys is not None else None
            cursor.execute(
                f"INSERT INTO {self.tiles} (level, tile, first_id, hashes, keys) VALUES "
                f"({p}, {p}, {p}, {p}, {p}) ON CONFLICT (level, tile) DO UPDATE SET "
                "first_id = excluded.first_id, hashes = excluded.hashes, keys = excluded.keys",
                (level, tile, first, b"".join(part), tile_keys),
            )
            if len(part) == TILE:
                completed.append(root(part))
        return completed

    def _tile(self, cursor: Any, level: int, tile: int) -> Any:
        cursor.execute(
            f"SELECT hashes, keys FROM {self.tiles} WHERE level = {self.p} AND tile = {self.p}",
            (level, tile),
        )
        row = cursor.fetchone()
        if row is None:
            raise TreeDamaged(f"the audit tree's tile {tile} of level {level} is missing")
        return row

    # Reading

    def leaves(self) -> Iterator[Leaf]:
        """The stored leaves in order, a tile at a time; they stop where a tile is missing."""
        for tile, row in enumerate(self.tiles_of(0)):
            if row["tile"] != tile:
                return
            yield from _tile_leaves(row)

    def tiles_of(self, level: int) -> Iterator[Any]:
        """The tiles of one level in order, a few at a time."""
        tile = 0
        while True:
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT tile, first_id, hashes, keys FROM {self.tiles} WHERE level = "
                    f"{self.p} AND tile >= {self.p} ORDER BY tile LIMIT 64",
                    (level, tile),
                )
                rows = cursor.fetchall()
            yield from rows
            if len(rows) < 64:
                return
            tile = rows[-1]["tile"] + 1

    def subtrees(self) -> Subtrees:
        """A reader of subtree roots (for proofs), reading each tile once."""
        return Subtrees(self)

    def position_of(self, notification_id: int) -> int | None:
        """The position of the leaf of this notification id (None: no leaf has it)."""
        return self.positions()(notification_id)

    def positions(self) -> Positions:
        """A finder of leaves' positions by notification id, keeping the tiles it read (a
        message's events often share one: 10,000 of them took 8 s on PostgreSQL a query
        each)."""
        return Positions(self)


def _head(row: Any) -> Head:
    peaks = bytes(row["peaks"])
    return Head(
        row["size"],
        row["position"],
        bytes(row["root"]),
        tuple(split_hashes(peaks)),
        from_micros(row["at"]),
    )


def split_hashes(blob: bytes) -> list[bytes]:
    """The 32-byte hashes a tile (or a head's peaks) holds, in order."""
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]


def first_id(keys: bytes) -> int:
    """The notification id of the first key in ``keys`` (signed: one set below 0 by hand is
    still an id)."""
    return int.from_bytes(keys[:8], "big", signed=True)


def _search(keys: bytes, notification_id: int, tile: int) -> int | None:
    """The position of this notification id's leaf among a level-0 tile's ascending keys."""
    lo, hi = 0, len(keys) // KEY
    while lo < hi:
        mid = (lo + hi) // 2
        if first_id(keys[mid * KEY :]) < notification_id:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(keys) // KEY and first_id(keys[lo * KEY :]) == notification_id:
        return tile * TILE + lo
    return None


def _tile_leaves(row: Any) -> Iterator[Leaf]:
    keys, base = bytes(row["keys"]), row["tile"] * TILE
    for i, leaf in enumerate(split_hashes(bytes(row["hashes"]))):
        key = keys[i * KEY : (i + 1) * KEY]
        yield Leaf(base + i, first_id(key), key[8:], leaf)


class Positions:
    """Positions of leaves by notification id: the level-0 tile whose keys hold it, found by
    its first id (an index seek), then a binary search; tiles read once."""

    def __init__(self, tree: AuditTree):
        self.tree = tree
        self._tiles: list[tuple[int, int, int, bytes]] = []  # (first id, last id, tile, keys)

    def __call__(self, notification_id: int) -> int | None:
        for first, last, tile, keys in self._tiles:
            if first <= notification_id <= last:
                return _search(keys, notification_id, tile)
        tree = self.tree
        with tree.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT tile, keys FROM {tree.tiles} WHERE level = 0 AND first_id <= {tree.p} "
                "ORDER BY level, first_id DESC LIMIT 1",
                (notification_id,),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        keys = bytes(row["keys"])
        if len(keys) < KEY:
            return None
        found = (first_id(keys), first_id(keys[-KEY:]), row["tile"], keys)
        self._tiles = [found, *self._tiles[:15]]
        return _search(keys, notification_id, row["tile"])


class Subtrees:
    """Roots of subtrees of the stored tree (``domain.merkle.Subtree``), tiles read once."""

    def __init__(self, tree: AuditTree):
        self.tree = tree
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._roots: dict[tuple[int, int], bytes] = {}

    def __call__(self, lo: int, hi: int) -> bytes:
        return subtree_root(lo, hi, self.complete)

    def complete(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree of 2**height leaves at ``index``: 2**(height % 8)
        hashes of level height // 8, all in one tile. Kept once made: the proofs of a
        message's events share most of their nodes (without, a proof of 10,000 events hashed
        about 8 million nodes, 19 s of its 21, measured on 2026-12-06)."""
        key = (height, index)
        if key not in self._roots:
            self._roots[key] = self._complete(height, index)
        return self._roots[key]

    def _complete(self, height: int, index: int) -> bytes:
        level, rest = divmod(height, TILE_HEIGHT)
        first = index << rest
        tile, offset = divmod(first, TILE)
        hashes = self._tile(level, tile)
        part = split_hashes(hashes[offset * 32 : (offset + (1 << rest)) * 32])
        if len(part) != 1 << rest:
            raise TreeDamaged(f"the audit tree's level {level} lacks nodes at {first}")
        return root(part)

    def _tile(self, level: int, tile: int) -> bytes:
        key = (level, tile)
        if key not in self._tiles:
            with self.tree.datastore.transaction(commit=False) as cursor:
                self._tiles[key] = bytes(self.tree._tile(cursor, level, tile)["hashes"])
        return self._tiles[key]
