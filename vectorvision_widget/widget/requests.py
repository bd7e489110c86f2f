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
from typing import Any, Protocol

from vectorvision_widget.widget.jobs import PoolBusyError, RequestPool, note
from vectorvision_widget.widget.mapdata import ascii_name, file_problem

__all__ = ["MAX_ROWS_PER_REQUEST", "SHARP_SIZES", "BadRequestError", "BrowserRequests"]

MAX_ROWS_PER_REQUEST = 256
SHARP_SIZES = (16, 32, 64, 128, 256)  #: sharp tile sizes; JS asks for the one the zoom needs
INFO_SIZE = 192
_MAX_REQ_ID = 2**53  # JS numbers stay exact below this


class BadRequestError(ValueError):
    """A browser message with a missing, mistyped or out-of-range field."""


class WidgetSide(Protocol):
    """What the requests need from the widget (kept explicit: no mixin reaching into it)."""

    @property
    def library(self) -> Any: ...

    @property
    def data_version(self) -> int: ...

    def atlases(self) -> list[Any]: ...

    def sharp(self, path: str, size: int, *, square: bool) -> bytes | None: ...

    def send(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None: ...

    def show_error(self, text: str) -> None: ...

    def rescan(self, force: bool = False) -> None: ...


def _int(content: dict[str, Any], key: str, lo: int, hi: int, default: int | None = None) -> int:
    value = content.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"field {key!r} must be an integer, got {type(value).__name__}"
        raise BadRequestError(msg)
    if not lo <= value <= hi:
        msg = f"field {key!r} must be in {lo}..{hi}, got {value}"
        raise BadRequestError(msg)
    return value


def _rows(content: dict[str, Any], n: int) -> list[int]:
    rows = content.get("rows")
    if not isinstance(rows, list) or len(rows) > MAX_ROWS_PER_REQUEST:
        msg = f"field 'rows' must be a list of at most {MAX_ROWS_PER_REQUEST} row numbers"
        raise BadRequestError(msg)
    out = []
    for r in rows:
        if isinstance(r, bool) or not isinstance(r, int):
            msg = f"field 'rows' holds a {type(r).__name__}, expected integers"
            raise BadRequestError(msg)
        if 0 <= r < n:  # rows of an older library version are skipped, not an error
            out.append(r)
    return out


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
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "hello": self._hello,
            "thumbs": self._thumbs,
            "info": self._info,
            "rescan": self._rescan,
        }

    def handle(self, content: Any, buffers: Any = None) -> None:
        """Entry point for ``widget.on_msg``: never raises."""
        del buffers
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            handler = self._handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                msg = f"unknown request type {kind!r}; expected one of {sorted(self._handlers)}"
                raise BadRequestError(msg)
            handler(content)
        except Exception as err:  # a bad request must never raise into the kernel
            self._w.show_error(f"{kind}: {type(err).__name__}: {err}")

    def close(self) -> None:
        self.pool.close()

    # ------------------------------------------------------------------ handlers

    def _hello(self, _content: dict[str, Any]) -> None:
        version = self._w.data_version
        for atlas in self._w.atlases():
            self._w.send({"type": "atlas", "version": version, **atlas.header()}, [atlas.jpeg])

    def _thumbs(self, content: dict[str, Any]) -> None:
        n = len(self._w.library)
        size = _int(content, "size", 1, 4096, 128)
        size = min(SHARP_SIZES, key=lambda s: (abs(s - size), s))
        req = _int(content, "req", 0, _MAX_REQ_ID, 0)
        rows = _rows(content, n)
        version = self._w.data_version
        try:
            self.pool.submit("thumbs", lambda: self._answer_thumbs(rows, size, req, version))
        except PoolBusyError:
            self._w.send(
                {
                    "type": "thumbs",
                    "req": req,
                    "size": size,
                    "rows": [],
                    "failed": rows,
                    "busy": True,
                    "version": version,
                }
            )
            raise

    def _info(self, content: dict[str, Any]) -> None:
        row = _int(content, "row", 0, max(len(self._w.library) - 1, 0))
        if not len(self._w.library):
            return
        version = self._w.data_version
        self.pool.submit("info", lambda: self._answer_info(row, version))

    def _rescan(self, content: dict[str, Any]) -> None:
        force = content.get("force", False)
        if not isinstance(force, bool):
            msg = f"field 'force' must be true or false, got {type(force).__name__}"
            raise BadRequestError(msg)
        self._w.rescan(force=force)

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
            reply = {
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
        meta = {
            "row": row,
            "name": ascii_name(Path(path).name if isinstance(path, str) else path),
            "path": ascii_name(path),
            "keywords": _keywords(rec.get("keywords")),
            "palette": _palette(rec.get("palette")),
            "width": _count(rec.get("width")),
            "height": _count(rec.get("height")),
            "size": _count(rec.get("size")),
            "missing": problem is None and not exists,
            "unreadable": problem is not None or (exists and data is None),
            "problem": problem,
        }
        reply = {"type": "info", "row": row, "meta": meta, "version": version}
        self._w.send(reply, [data] if data else [])


def _keywords(raw: Any) -> list[list[Any]]:
    """Up to 5 [label, score-or-None] pairs from whatever a record holds (NaN → None)."""
    out: list[list[Any]] = []
    for kw in (raw if isinstance(raw, list) else [])[:5]:
        if isinstance(kw, dict):
            label = kw.get("label", kw.get("className", ""))
            score = _finite(kw.get("score", kw.get("probability")))
            out.append([ascii_name(str(label)), score])
        else:
            out.append([ascii_name(str(kw)), None])
    return out


def _palette(raw: Any) -> list[list[int]]:
    """Up to 6 [r, g, b] colours; entries that are not three numbers in 0..255 are dropped."""
    out = []
    for c in (raw if isinstance(raw, list) else [])[:6]:
        try:
            rgb = [int(v) for v in c[:3]]
        except (TypeError, ValueError, OverflowError):
            continue
        if len(rgb) == 3 and all(0 <= v <= 255 for v in rgb):
            out.append(rgb)
    return out
