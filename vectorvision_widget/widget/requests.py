"""Requests from the browser (``model.send``) and their binary answers.

JS asks for what it needs when it needs it: the atlases already built (a view that renders late or
is re-rendered), sharper thumbnails for the cells visible when zoomed in, tooltip details, and a
rescan. Every field is validated (type and bounds) before use; a bad request is answered with an
error in the widget, never raised into the kernel. Work runs in a per-widget
:class:`~jobs.RequestPool`, and files that must not be opened (FIFOs, invalid names) are refused
first, so no file can block the answers of this widget or any other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vectorvision_widget.images import colors
from vectorvision_widget.thumbs.tiles import INFO_SIZE, SHARP_SIZES, Atlas
from vectorvision_widget.widget.jobs import PoolBusyError, RequestPool, note
from vectorvision_widget.widget.mapdata import ascii_name, file_problem
from vectorvision_widget.widget.protocol import (
    MAX_ROWS_PER_REQUEST,
    REQUESTS,
    AtlasReply,
    BadRequestError,
    InfoMeta,
    InfoReply,
    InfoRequest,
    LikeRequest,
    MosaicsReply,
    QueryImageRequest,
    Reply,
    RescanRequest,
    RowsReply,
    ThumbsReply,
    ThumbsRequest,
    parse_request,
)

if TYPE_CHECKING:
    from vectorvision_widget.library import Library
    from vectorvision_widget.widget.increments import Changes

__all__ = ["MAX_ROWS_PER_REQUEST", "SHARP_SIZES", "BadRequestError", "BrowserRequests"]


class WidgetSide(Protocol):
    """What the requests need from the widget (kept explicit: no mixin reaching into it)."""

    @property
    def library(self) -> Library: ...

    @property
    def data_version(self) -> int: ...

    def atlases(self) -> list[Atlas]: ...

    def mosaics(self) -> list[tuple[MosaicsReply, list[bytes]]]: ...

    def sharp(self, path: str, size: int, *, square: bool) -> bytes | None: ...

    def send(self, content: Reply, buffers: list[bytes] | None = None) -> None: ...

    def show_error(self, text: str) -> None: ...

    def rescan(self, force: bool = False) -> None: ...

    def query_image_bytes(self, data: bytes, name: str, space: str) -> None: ...

    def like(self, more: bool) -> None: ...


def atlas_reply(atlas: Atlas, version: int) -> AtlasReply:
    """The ``atlas`` message announcing ``atlas`` (its JPEG travels as buffer 0)."""
    return {
        "type": "atlas",
        "version": version,
        "index": atlas.index,
        "first": atlas.first,
        "count": atlas.count,
        "tile": atlas.tile,
        "cols": atlas.cols,
    }


def rows_reply(changes: Changes, version: int) -> RowsReply:
    """The ``rows`` message of an incremental refresh (see ``protocol.RowsReply``)."""
    shifted = changes.shifted
    return {
        "type": "rows",
        "version": version,
        "rows": [r for r in changes.rows if r < shifted],
        "shifted": shifted,
    }


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _count(x: Any) -> int | None:
    try:
        value = int(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if value >= 0 else None


class BrowserRequests:
    """Validates and answers one widget's browser messages (composed into ``VectorVision``)."""

    def __init__(self, widget: WidgetSide, pool: RequestPool | None = None) -> None:
        self._w = widget
        self.pool = pool or RequestPool(widget.show_error)
        self._handlers: dict[str, Callable[[Any], None]] = {
            "hello": self._hello,
            "thumbs": self._thumbs,
            "info": self._info,
            "rescan": self._rescan,
            "query_image": self._query_image,
            "like": self._like,
        }
        self._buffers: list[bytes] = []

    def add_handler(self, kind: str, handler: Callable[[Any], None]) -> None:
        """Answer requests of ``kind`` (a ``protocol.REQUESTS`` type) with ``handler``."""
        if kind not in REQUESTS:
            msg = f"add_handler: {kind!r} is not a request type of protocol.py"
            raise ValueError(msg)
        self._handlers[kind] = handler

    def handle(self, content: object, buffers: object = None) -> None:
        """Entry point for ``widget.on_msg``: validates ``content`` against the protocol
        (`protocol.parse_request`), answers it, and never raises."""
        if self.closed:  # a message that was on its way when the widget closed: nothing to do
            return
        bufs = buffers if isinstance(buffers, list | tuple) else []
        self._buffers = [bytes(b) for b in bufs if isinstance(b, bytes | bytearray | memoryview)]
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            request = parse_request(content)
            self._handlers[request["type"]](request)
        except Exception as err:  # a bad request must never raise into the kernel
            self._w.show_error(f"{kind}: {type(err).__name__}: {err}")

    @property
    def closed(self) -> bool:
        return self.pool.closed

    def close(self) -> None:
        """Answer nothing more: later messages are ignored, queued work is dropped."""
        self.pool.close()

    # ------------------------------------------------------------------ handlers

    def _hello(self, _request: object) -> None:
        version = self._w.data_version
        for reply, buffers in self._w.mosaics():  # the overview first: a few images
            self._w.send(reply, buffers)
        for atlas in self._w.atlases():
            self._w.send(atlas_reply(atlas, version), [atlas.jpeg])

    def _thumbs(self, request: ThumbsRequest) -> None:
        n = len(self._w.library)
        size = min(SHARP_SIZES, key=lambda s: (abs(s - request["size"]), s))
        req = request["req"]
        rows = [r for r in request["rows"] if 0 <= r < n]  # rows of an older version: skipped
        version = self._w.data_version
        try:
            self.pool.submit("thumbs", lambda: self._answer_thumbs(rows, size, req, version))
        except PoolBusyError:
            busy: ThumbsReply = {
                "type": "thumbs",
                "req": req,
                "size": size,
                "rows": [],
                "failed": rows,
                "busy": True,
                "version": version,
            }
            self._w.send(busy)
            raise

    def _info(self, request: InfoRequest) -> None:
        n = len(self._w.library)
        row = request["row"]
        if not 0 <= row < max(n, 1):
            msg = f"field 'row' must be in 0..{max(n - 1, 0)}, got {row}"
            raise BadRequestError(msg)
        if not n:
            return
        version = self._w.data_version
        try:
            self.pool.submit("info", lambda: self._answer_info(row, version))
        except PoolBusyError:  # answered, so the browser may ask again instead of waiting
            busy: InfoReply = {
                "type": "info",
                "row": row,
                "meta": None,
                "busy": True,
                "version": version,
            }
            self._w.send(busy)
            raise

    def _rescan(self, request: RescanRequest) -> None:
        self._w.rescan(force=request.get("force", False))

    def _query_image(self, request: QueryImageRequest) -> None:
        bufs = self._buffers
        if len(bufs) != 1 or len(bufs[0]) != request["size"]:
            got = [len(b) for b in bufs]
            msg = f"expected one buffer of {request['size']} bytes (the image file), got {got}"
            raise BadRequestError(msg)
        self._w.query_image_bytes(bufs[0], request["name"], request["space"])

    def _like(self, request: LikeRequest) -> None:
        self._w.like(request["more"])

    # ------------------------------------------------------------------ answers (pool threads)

    def _answer_thumbs(self, rows: list[int], size: int, req: int, version: int) -> None:
        ok_rows: list[int] = []
        bufs: list[bytes] = []
        failed: list[int] = []
        bad: list[str] = []
        paths = self._w.library.paths
        try:
            for row in rows:
                if row >= len(paths) or version != self._w.data_version:
                    failed.append(row)
                    continue
                path = paths[row]
                problem = file_problem(path)
                if problem is not None:
                    failed.append(row)
                    bad.append(f"{ascii_name(path)} ({problem})")
                    continue
                note(f"thumbs: {ascii_name(path)}")
                data = self._w.sharp(path, size, square=True)
                if data is None:
                    failed.append(row)
                else:
                    ok_rows.append(row)
                    bufs.append(data)
        finally:  # always answer, so the browser stops waiting for these rows
            done = set(ok_rows) | set(failed)
            failed += [r for r in rows if r not in done]
            reply: ThumbsReply = {
                "type": "thumbs",
                "req": req,
                "size": size,
                "rows": ok_rows,
                "failed": failed,
                "version": version,
            }
            self._w.send(reply, bufs)
        if bad:
            self._w.show_error(f"thumbs: cannot show {', '.join(bad[:3])}")

    def _answer_info(self, row: int, version: int) -> None:
        lib = self._w.library
        if row >= len(lib) or version != self._w.data_version:
            return
        rec = lib.records[row]
        path = lib.paths[row]
        problem = file_problem(path)
        data = None
        if problem is None:
            note(f"info: {ascii_name(path)}")
            data = self._w.sharp(path, INFO_SIZE, square=False)
        try:
            exists = problem is None and Path(path).exists()
        except (OSError, ValueError):
            exists = False
        meta: InfoMeta = {
            "row": row,
            "name": ascii_name(Path(path).name),
            "path": ascii_name(path),
            "folder": ascii_name(folder_under_root(path, lib.roots)),
            "taken": _text(rec.get("taken")),
            "camera": _text(rec.get("camera")),
            "keywords": _keywords(rec.get("keywords"), drop=_backdrop(rec)),
            "palette": _palette(rec.get("palette")),
            "width": _count(rec.get("width")),
            "height": _count(rec.get("height")),
            "size": _count(rec.get("size")),
            "missing": problem is None and not exists,
            "unreadable": problem is not None or (exists and data is None),
            "problem": problem,
        }
        reply: InfoReply = {"type": "info", "row": row, "meta": meta, "version": version}
        self._w.send(reply, [data] if data else [])


def folder_under_root(path: str, roots: list[str]) -> str:
    """The folder of ``path`` named from its scan root: ``"emoji/apple"`` for
    ``/data/emoji/apple/flushed.png`` scanned as ``/data/emoji`` (the deepest root that holds it);
    the full folder when no root holds it. Tells apart same-named files of different folders."""
    parent = Path(path).parent
    best: Path | None = None
    for root in roots:
        r = Path(root)
        holds = parent == r or r in parent.parents
        if holds and (best is None or len(r.parts) > len(best.parts)):
            best = r
    if best is None:
        return str(parent)
    rel = parent.relative_to(best)
    return str(Path(best.name) / rel) if rel.parts else best.name or str(best)


def _text(raw: object) -> str | None:
    """A short display string of a record's metadata field (``taken``, ``camera``), else None."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, (str, int, float)):
        text = str(raw).strip()
        return ascii_name(text[:80]) if text else None
    return None


def _backdrop(rec: dict[str, Any]) -> frozenset[str]:
    """Keywords not to show for ``rec``: "grey" of a transparent image that is not grey."""
    return colors.BACKDROP_WORDS if colors.backdrop_keywords(rec) else frozenset()


def _keywords(raw: object, drop: frozenset[str] = frozenset()) -> list[tuple[str, float | None]]:
    """Up to 5 (label, score-or-None) pairs from whatever a record holds (NaN → None),
    without the labels in ``drop``."""
    out: list[tuple[str, float | None]] = []
    for kw in raw if isinstance(raw, list) else []:
        if isinstance(kw, dict):
            label = str(kw.get("label", kw.get("className", "")))
            score = _finite(kw.get("score", kw.get("probability")))
        else:
            label, score = str(kw), None
        if label.strip().lower() in drop:
            continue
        out.append((ascii_name(label), score))
        if len(out) == 5:
            break
    return out


def _palette(raw: object) -> list[tuple[int, int, int]]:
    """Up to 6 (r, g, b) colours; entries that are not three numbers in 0..255 are dropped."""
    out: list[tuple[int, int, int]] = []
    for c in (raw if isinstance(raw, list) else [])[:6]:
        try:
            rgb = [int(v) for v in c[:3]]
        except (TypeError, ValueError, OverflowError):
            continue
        if len(rgb) == 3 and all(0 <= v <= 255 for v in rgb):
            out.append((rgb[0], rgb[1], rgb[2]))
    return out
