"""Thumbnails kept from the scan, in a sidecar beside the library (never in the image folders).

Why: the scan already decodes every image; re-decoding 12-MP photos for the map at every kernel
start costs ~12 ms each (21 minutes at 100k). So the scan keeps, per image, a 32 px square map
tile (raw RGB) and the 192 px tooltip thumbnail (JPEG), and reopening a library reads those.

Layout: `library.json` → folder `library.thumbs/` holding pack files `pack-*.vvt`. A pack is
written whole and atomically (`atomicfile`) by one scan or one widget session, so concurrent
writers never share a file; later packs win; `compact()` merges them. Entries are keyed by path +
file size + mtime: a file changed since is simply a miss. Every blob carries a CRC32; a corrupt,
truncated or foreign pack is ignored. A miss (missing, stale, corrupt) falls back to decoding the
image, and the result is written back in a new pack: the cache rebuilds itself silently. The
library never needs the cache to load; deleting the folder is always safe.

Widget API: `CachedTiles(library_path)` and `CachedSharp(library_path)` are drop-in
`thumbnails.TileCache` / `SharpCache` that consult the sidecar first; call `.flush()` when a
batch of fall-back decodes is done. Scan API: `ThumbWriter(library_path)` (`scan(thumbs=...)`).
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageOps

from vectorvision_widget.images.decode import open_regular
from vectorvision_widget.thumbs.tiles import (
    ATLAS_TILE_LOD,
    INFO_SIZE,
    Atlas,
    SharpCache,
    TileCache,
    _open,
    encode_jpeg,
    for_display,
    placeholder_tile,
)

__all__ = [
    "MID_SIZE",
    "TILE_PX",
    "CachedSharp",
    "CachedTiles",
    "ThumbStore",
    "ThumbWriter",
    "make_thumbs",
    "sidecar_dir",
]

TILE_PX = max(size for _, size in ATLAS_TILE_LOD)  #: stored tile (the largest atlas tile)
MID_SIZE = INFO_SIZE  #: tooltip thumbnail, aspect kept, JPEG
_MAGIC = b"VVTHUMB1"
_TAIL = struct.Struct("<QI8s")  # index length, index crc32, magic
_MAX_PACKS = 8


def sidecar_dir(library_path: str | os.PathLike[str]) -> Path:
    """The thumbnail folder beside a library file, one per file name.

    `photos/library.json` → `photos/library.thumbs`; any other name keeps its whole name, so
    `lib.json`, `lib.bak` and `lib` never share a folder: `lib.bak.vvthumbs`, `lib.vvthumbs`
    (a `.json` folder always ends in `.thumbs`, the others in `vvthumbs`: no two names meet).
    """
    p = Path(os.path.abspath(os.fspath(library_path)))
    if p.suffix.lower() == ".json":
        return p.with_name(p.stem + ".thumbs")
    return p.with_name(p.name + ".vvthumbs")


def make_thumbs(img: Image.Image, path: str = "") -> dict[str, bytes]:
    """The scan-time thumbnails of a decoded RGB image: raw 32 px tile + 192 px JPEG.
    Module-level and pure, so distributed workers can run it. Transparent pixels are shown on
    the map's background (`tiles.for_display`), not the models' grey."""
    img = for_display(img)
    tile = ImageOps.fit(img, (TILE_PX, TILE_PX), Image.Resampling.BILINEAR)
    mid = img.copy()
    mid.thumbnail((MID_SIZE, MID_SIZE), Image.Resampling.BILINEAR)
    return {"tile": np.asarray(tile, dtype=np.uint8).tobytes(), "mid": encode_jpeg(mid, quality=85)}


@dataclass(frozen=True)
class _Entry:
    pack: int  # index into ThumbStore._maps
    size: int
    mtime: float
    tile: tuple[int, int, int]  # offset, length, crc32 (length 0: none)
    mid: tuple[int, int, int]


def _pack_bytes(entries: Iterable[tuple[str, int, float, bytes, bytes]]) -> list[bytes]:
    """One pack file: magic, blobs, JSON index, tail (index length + crc + magic)."""
    chunks: list[bytes] = [_MAGIC]
    offset = len(_MAGIC)
    index = []
    for path, size, mtime, tile, mid in entries:
        rec: list[Any] = [path, size, mtime]
        for blob in (tile, mid):
            rec += [offset, len(blob), zlib.crc32(blob)]
            chunks.append(blob)
            offset += len(blob)
        index.append(rec)
    raw = json.dumps({"tile_px": TILE_PX, "entries": index}, ensure_ascii=True).encode()
    chunks += [raw, _TAIL.pack(len(raw), zlib.crc32(raw), _MAGIC)]
    return chunks


class ThumbStore:
    """Read access to a sidecar folder (all packs, later packs win) plus writing new packs."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._maps: list[mmap.mmap] = []
        self._packs: list[Path] = []
        self._index: dict[str, _Entry] = {}
        self.entries_total = 0  # entries in all packs, superseded ones included
        self.reload()

    @classmethod
    def for_library(cls, library_path: str | os.PathLike[str]) -> ThumbStore:
        return cls(sidecar_dir(library_path))

    def __len__(self) -> int:
        return len(self._index)

    def reload(self) -> None:
        """(Re)read every pack's index; unreadable or corrupt packs are skipped silently."""
        with self._lock:
            self._close()
            try:
                packs = sorted(self.folder.glob("pack-*.vvt"), key=lambda p: p.name)
            except OSError:
                packs = []
            for p in packs:
                self._open_pack(p)

    def _open_pack(self, path: Path) -> None:
        try:  # open_regular: a FIFO or device named like a pack is never opened (it would block)
            with open_regular(path) as fh:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # vanished, empty, unreadable, not a regular file
            return
        try:
            n = len(mm)
            if n < len(_MAGIC) + _TAIL.size or mm[: len(_MAGIC)] != _MAGIC:
                raise ValueError("not a pack")
            length, crc, magic = _TAIL.unpack(mm[n - _TAIL.size :])
            start = n - _TAIL.size - length
            if magic != _MAGIC or start < len(_MAGIC):
                raise ValueError("bad tail")
            raw = mm[start : n - _TAIL.size]
            if zlib.crc32(raw) != crc:
                raise ValueError("index crc")
            meta = json.loads(raw)
            if meta.get("tile_px") != TILE_PX:
                raise ValueError("other tile size")
            number = len(self._maps)
            for path_s, size, mtime, t_off, t_len, t_crc, m_off, m_len, m_crc in meta["entries"]:
                blobs = (t_off, t_len, t_crc, m_off, m_len, m_crc)
                if not all(type(v) is int and v >= 0 for v in blobs) or type(path_s) is not str:
                    raise ValueError("offsets, lengths and checksums must be whole numbers")
                if t_off + t_len > start or m_off + m_len > start:
                    raise ValueError("blob outside the pack")
                tile, mid = (t_off, t_len, t_crc), (m_off, m_len, m_crc)
                self._index[path_s] = _Entry(number, int(size), float(mtime), tile, mid)
                self.entries_total += 1
        except (ValueError, TypeError, KeyError, struct.error):
            mm.close()
            return
        self._maps.append(mm)
        self._packs.append(path)

    def _close(self) -> None:
        for mm in self._maps:
            with contextlib.suppress(Exception):
                mm.close()
        self._maps, self._packs, self._index = [], [], {}
        self.entries_total = 0

    def close(self) -> None:
        with self._lock:
            self._close()

    def _blob(self, path: str, size: int, mtime: float, which: int) -> bytes | None:
        entry = self._index.get(path)
        if entry is None or entry.size != size or entry.mtime != mtime:
            return None  # missing or stale
        off, length, crc = entry.tile if which == 0 else entry.mid
        if not length:
            return None
        try:
            blob = self._maps[entry.pack][off : off + length]
        except (ValueError, IndexError):  # closed meanwhile
            return None
        return blob if zlib.crc32(blob) == crc else None  # corrupt: a miss

    def tile(self, path: str, size: int, mtime: float) -> np.ndarray | None:
        """The stored (32, 32, 3) uint8 tile of this exact file version, or None."""
        blob = self._blob(path, size, mtime, 0)
        if blob is None or len(blob) != TILE_PX * TILE_PX * 3:
            return None
        return np.frombuffer(blob, dtype=np.uint8).reshape(TILE_PX, TILE_PX, 3)

    def mid(self, path: str, size: int, mtime: float) -> bytes | None:
        """The stored 192 px tooltip JPEG of this exact file version, or None."""
        return self._blob(path, size, mtime, 1)

    def write(self, entries: list[tuple[str, int, float, bytes, bytes]]) -> Path | None:
        """Write `entries` (path, size, mtime, tile bytes, mid JPEG) as a new pack, atomically.
        Returns its path, or None when the folder is not writable (the cache is optional)."""
        if not entries:
            return None
        from vectorvision_widget.atomicfile import atomic_write_bytes

        name = f"pack-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.vvt"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = atomic_write_bytes(self.folder / name, _pack_bytes(entries))
        except OSError:
            return None
        with self._lock:
            self._open_pack(Path(path))
        return Path(path)

    def compact(self, keep: Iterable[str] | None = None) -> None:
        """Merge every pack into one holding only the current entries (of `keep` paths)."""
        wanted = None if keep is None else set(keep)
        with self._lock:
            old = list(self._packs)
            live = []
            for path, e in self._index.items():
                if wanted is not None and path not in wanted:
                    continue
                mm = self._maps[e.pack]
                tile = mm[e.tile[0] : e.tile[0] + e.tile[1]]
                mid = mm[e.mid[0] : e.mid[0] + e.mid[1]]
                if zlib.crc32(tile) == e.tile[2] and zlib.crc32(mid) == e.mid[2]:
                    live.append((path, e.size, e.mtime, tile, mid))
        if live and self.write(live) is None:
            return
        for p in old:
            with contextlib.suppress(OSError):
                p.unlink()
        self.reload()

    def needs_compaction(self, keep: Iterable[str] | None = None) -> bool:
        """Too many packs, too many superseded entries, or (given the library's paths `keep`)
        too many entries of files the library no longer holds: at most ~10 % of the cache is
        dead weight before it is rewritten."""
        if len(self._packs) > _MAX_PACKS or self.entries_total > 2 * max(len(self), 64):
            return True
        if keep is None:
            return False
        wanted = keep if isinstance(keep, (set, frozenset, dict)) else set(keep)
        dead = sum(1 for path in self._index if path not in wanted)
        return dead > 0 and dead >= min(max(16, len(wanted) // 10), len(self._index))


class PreparedThumbs(Protocol):
    """What `ThumbWriter.add` reads from one scanned file (a `scanning.files.Prepared`)."""

    @property
    def path(self) -> str: ...

    @property
    def record(self) -> Mapping[str, Any]: ...  # holds "size" and "mtime"

    @property
    def thumbs(self) -> Mapping[str, bytes]: ...  # "tile" and "mid" JPEGs when made


class ThumbWriter:
    """Collects the scan's thumbnails and writes them beside the library in one pack.

    Pass it as `scan(..., thumbs=writer)`: workers run `writer.make(img, path)` (the pure
    `make_thumbs`); the scan calls `writer.add(prepared)` for each stored image and
    `writer.flush()` at the end (also after Ctrl-C). A pack is written every `every` images so
    an interrupted scan keeps most of its thumbnails."""

    make = staticmethod(make_thumbs)

    def __init__(self, library_path: str | os.PathLike[str], *, every: int = 2048) -> None:
        self.store = ThumbStore.for_library(library_path)
        self.every = every
        self._pending: list[tuple[str, int, float, bytes, bytes]] = []
        self._lock = threading.Lock()

    def add(self, prepared: PreparedThumbs) -> None:
        thumbs, rec = prepared.thumbs, prepared.record
        if "tile" not in thumbs or "mid" not in thumbs:
            return
        with self._lock:
            self._pending.append(
                (
                    prepared.path,
                    int(rec["size"]),
                    float(rec["mtime"]),
                    thumbs["tile"],
                    thumbs["mid"],
                )
            )
            full = len(self._pending) >= self.every
        if full:
            self.flush(compact=False)

    def flush(self, *, keep: Iterable[str] | None = None, compact: bool = True) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        self.store.write(pending)
        wanted = None if keep is None else set(keep)
        if compact and self.store.needs_compaction(wanted):
            self.store.compact(wanted)


def _stat_key(path: str) -> tuple[int, float] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_size, st.st_mtime


class CachedTiles(TileCache):
    """`TileCache` that reads map tiles from the sidecar; misses are decoded and written back."""

    def __init__(self, library_path: str | os.PathLike[str] | None) -> None:
        super().__init__()
        self.store = ThumbStore.for_library(library_path) if library_path else None
        self._new: list[tuple[str, int, float, bytes, bytes]] = []
        self.hits = 0
        self.misses = 0

    def tile(self, path: str, size: int, colour: Sequence[int] | None) -> tuple[np.ndarray, bool]:
        key = _stat_key(path)
        if key is None:
            return placeholder_tile(size, colour), False
        if self.store is not None:
            stored = self.store.tile(path, *key)
            if stored is not None:
                self.hits += 1
                if size == TILE_PX:
                    return stored, True
                img = Image.fromarray(stored).resize((size, size), Image.Resampling.BILINEAR)
                return np.asarray(img, dtype=np.uint8), True
        self.misses += 1
        if self.store is None:
            return super().tile(path, size, colour)
        try:  # one decode gives the tile asked for and both stored thumbnails
            img = _open(path, MID_SIZE)
            made = make_thumbs(img, path)
        except Exception:  # unreadable: placeholder, as TileCache does
            return placeholder_tile(size, colour), False
        with self._lock:
            self._new.append((path, *key, made["tile"], made["mid"]))
        return np.asarray(ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR)), True

    def build_atlases(
        self,
        paths: Sequence[str],
        colours: Sequence[Sequence[int] | None],
        size: int,
        *,
        cancelled: Callable[[], bool] = lambda: False,
        workers: int | None = None,
        blocks: Collection[int] | None = None,
    ) -> Iterator[tuple[Atlas, list[int]]]:
        """As TileCache.build_atlases; the fall-back decodes are written back at the end."""
        try:
            yield from super().build_atlases(
                paths, colours, size, cancelled=cancelled, workers=workers, blocks=blocks
            )
        finally:
            self.flush()

    def flush(self) -> None:
        """Write the tiles decoded on a miss into a new pack (silent if not writable)."""
        with self._lock:
            new, self._new = self._new, []
        if self.store is not None and new:
            self.store.write(new)


class CachedSharp(SharpCache):
    """`SharpCache` that answers the tooltip size (192 px, aspect kept) from the sidecar."""

    def __init__(self, library_path: str | os.PathLike[str] | None, capacity: int = 4096) -> None:
        super().__init__(capacity)
        self.store = ThumbStore.for_library(library_path) if library_path else None

    def get(self, path: str, size: int, *, square: bool) -> bytes | None:
        if self.store is not None and size == MID_SIZE and not square:
            key = _stat_key(path)
            if key is not None:
                data = self.store.mid(path, *key)
                if data is not None:
                    return data
        return super().get(path, size, square=square)
