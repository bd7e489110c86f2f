"""A map you can share: one self-contained HTML file that works with no kernel.

``ipywidgets.embed`` cannot do this: its manager loads from a CDN (a blank page offline) and the
thumbnails a kernel sends on request are not in a widget's state. So the file holds what the
kernel would have answered: the synced state (cells, grid, colours, neighbour table, labels and
any trait added later, as ``get_state`` gives them), the JPEG atlases, each image's tooltip
details and thumbnail, and the text that search by name / keyword reads. A small model
(``js/standalone.js``, bundled to ``static/standalone.js``) serves the bundled widget
(``static/widget.js``, unchanged) from that data, in the page, over ``file://``.

Binary data travels as one base64 block with offsets (a JSON manifest says which bytes are which),
so the page decodes it once; the tooltip details come from the kernel's own request code
(:class:`~vectorvision_widget.widget.requests.BrowserRequests`), so the file shows what the
widget shows.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vectorvision_widget.atomicfile import atomic_write_bytes
from vectorvision_widget.thumbs.tiles import SHARP_SIZES, encode_jpeg, load_thumbnail
from vectorvision_widget.widget.jobs import RequestPool
from vectorvision_widget.widget.protocol import MosaicsReply, Reply
from vectorvision_widget.widget.requests import BrowserRequests, atlas_reply

if TYPE_CHECKING:
    from vectorvision_widget.library import Library
    from vectorvision_widget.thumbs.tiles import Atlas
    from vectorvision_widget.widget.widget import VectorVision

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TOOLTIP_PX", "ExportTooLargeError", "save_html"]

_STATIC = Path(__file__).parent.parent / "static"
DEFAULT_MAX_BYTES = 200 * 2**20
"""Largest file :func:`save_html` writes unless told otherwise: browsers open a 200 MB page, but
slowly (a 10k-image map with 128 px tooltips is ~60 MB)."""
DEFAULT_TOOLTIP_PX = 128
"""Longer side of the thumbnail kept per image (tooltip, and the sharpest zoom)."""
_DROP = {"layout", "_esm", "_css", "_dom_classes", "tabbable", "tooltip", "comm", "log"}
_LIVE_ONLY = {  # kernel-only features off in the file; the rest is kept as it was
    "_can_rescan": False,
    "progress": {},
    "status": "",
    "error": "",
    "hovered": None,
    "query": "",
    "colour_query": "",
    "highlighted": [],
}


class ExportTooLargeError(ValueError):
    """The map does not fit in the size limit of :func:`save_html` (the message says what to
    change)."""


class _InlinePool(RequestPool):
    """Runs each request at once, in the caller's thread (the export needs every answer)."""

    def submit(self, label: str, task: Callable[[], None]) -> None:
        del label
        task()


class _Recorder:
    """The widget as :class:`BrowserRequests` sees it, recording its replies instead of sending
    them; thumbnails are cut at the export's size."""

    def __init__(self, lib: Library, version: int, px: int) -> None:
        self._lib, self._version, self._px = lib, version, px
        self.replies: list[tuple[Reply, list[bytes]]] = []
        self.errors: list[str] = []

    @property
    def library(self) -> Library:
        return self._lib

    @property
    def data_version(self) -> int:
        return self._version

    def atlases(self) -> list[Atlas]:
        return []

    def mosaics(self) -> list[tuple[MosaicsReply, list[bytes]]]:
        return []  # a saved map draws its overview from the atlases

    def sharp(self, path: str, size: int, *, square: bool) -> bytes | None:
        del size
        if not self._px:
            return None
        img = load_thumbnail(path, self._px, square=square)
        return None if img is None else encode_jpeg(img, quality=80)

    def send(self, content: Reply, buffers: list[bytes] | None = None) -> None:
        self.replies.append((content, list(buffers or [])))

    def show_error(self, text: str) -> None:
        self.errors.append(text)

    def rescan(self, force: bool = False) -> None:
        del force
        msg = "rescan: not available in a saved map"
        raise ValueError(msg)

    def query_image_bytes(self, data: bytes, name: str, space: str) -> None:
        del data, name, space
        msg = "query by image: not available in a saved map (it needs the encoders)"
        raise ValueError(msg)

    def like(self, more: bool) -> None:
        del more
        msg = "more/less like these: not available in a saved map"
        raise ValueError(msg)


class _Blob:
    """The binary part of the file: chunks appended, each named by (offset, length)."""

    def __init__(self, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit

    def add(self, data: bytes | bytearray | memoryview) -> list[int]:
        b = bytes(data)
        ref = [self.size, len(b)]
        self.chunks.append(b)
        self.size += len(b)
        return ref

    def base64_size(self) -> int:
        return 4 * ((self.size + 2) // 3)


def _pack(value: Any, blob: _Blob) -> Any:
    """``value`` with every bytes-like leaf replaced by ``{"$bin": [offset, length]}``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": blob.add(value)}
    if isinstance(value, dict):
        return {k: _pack(v, blob) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_pack(v, blob) for v in value]
    return value


def _search_text(rec: dict[str, Any]) -> str:
    """What search by name / keyword reads for one image: the file name and its keyword labels
    (as the kernel's ``mapwork.name_search``), lower case."""
    labels = " ".join(
        str(kw.get("label", "")) if isinstance(kw, dict) else str(kw)
        for kw in rec.get("keywords") or []
    )
    return f"{Path(str(rec.get('path', ''))).name} {labels}".lower()


def _too_large(what: str, size: int, limit: int) -> ExportTooLargeError:
    mb = 2**20
    return ExportTooLargeError(
        f"save_html: {what} is {size / mb:.0f} MB, over the limit of {limit / mb:.0f} MB; "
        "pass tooltip_px=64 (or 0: no tooltip images), a smaller thumb_size, or a larger "
        "max_bytes= (browsers open pages of a few hundred MB slowly)"
    )


def _state(w: VectorVision, tooltip_px: int) -> dict[str, Any]:
    state = {k: v for k, v in w.get_state().items() if k not in _DROP}
    state.update(_LIVE_ONLY)
    mode = state.get("mode")
    state["_modes"] = [m for m in state.get("_modes", []) if m and m[0] == mode][:1]
    state["_sharp_sizes"] = [s for s in SHARP_SIZES if s <= tooltip_px]
    return state


def _page(title: str, manifest: dict[str, Any], blob: _Blob, css: str) -> str:
    esm = (_STATIC / "widget.js").read_bytes()
    shim = (_STATIC / "standalone.js").read_bytes()
    data = json.dumps(manifest, separators=(",", ":")).replace("</", "<\\/")
    b64 = base64.b64encode(b"".join(blob.chunks)).decode("ascii")
    t = html.escape(title)
    boot = (
        "const t=document.getElementById('vv-shim').textContent,s=atob(t),b=new Uint8Array"
        "(s.length);for(let i=0;i<s.length;i++)b[i]=s.charCodeAt(i);import(URL.createObjectURL"
        "(new Blob([b],{type:'text/javascript'})));"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{t}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<style>:root{color-scheme:light dark}body{margin:16px;font-family:system-ui,"
        "sans-serif}h1{font-size:16px;font-weight:600;margin:0 0 8px}"
        ".vv-note{font-size:12px;opacity:.7;margin:6px 0}</style>\n"
        f"<style>{css}</style>\n</head>\n<body>\n<h1>{t}</h1>\n"
        '<div id="vv-map"></div>\n'
        '<p class="vv-note">Saved map (no kernel): drag to pan, wheel to zoom, hold Shift and '
        "hover for similar images, search by name or keyword.</p>\n"
        f'<script type="application/json" id="vv-manifest">{data}</script>\n'
        f'<script type="text/plain" id="vv-bin">{b64}</script>\n'
        f'<script type="text/plain" id="vv-esm">{base64.b64encode(esm).decode()}</script>\n'
        f'<script type="text/plain" id="vv-shim">{base64.b64encode(shim).decode()}</script>\n'
        f'<script type="module">{boot}</script>\n</body>\n</html>\n'
    )


def save_html(
    w: VectorVision,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    tooltip_px: int = DEFAULT_TOOLTIP_PX,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float | None = 300.0,
) -> int:
    """Write the map of ``w`` as one HTML file; returns its size in bytes (see
    ``VectorVision.save_html``)."""
    value: object = tooltip_px  # checked at run time: callers may pass anything
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"save_html: tooltip_px must be 0 (no images) or a size in px, got {tooltip_px!r}"
        raise ValueError(msg)
    if tooltip_px > 512:
        msg = f"save_html: tooltip_px must be at most 512, got {tooltip_px}"
        raise ValueError(msg)
    if not w.wait(timeout):
        msg = (
            f"save_html: the map is still being computed after {timeout} s "
            "(layout, neighbours, thumbnails); try again when w.progress is empty"
        )
        raise TimeoutError(msg)
    lib = w.library
    n = len(lib)
    version = w._data_version
    atlases = list(w._work.atlases)
    if sum(a.count for a in atlases) < n:
        msg = f"save_html: thumbnails cover {sum(a.count for a in atlases)} of {n} images"
        raise RuntimeError(msg)
    blob = _Blob(max_bytes)
    state = _pack(_state(w, tooltip_px), blob)
    atlas_msgs = [{"msg": atlas_reply(a, version), "bufs": [blob.add(a.jpeg)]} for a in atlases]
    if blob.base64_size() > max_bytes:
        raise _too_large("the map without tooltips", blob.base64_size(), max_bytes)
    rec = _Recorder(lib, version, tooltip_px)
    answer = BrowserRequests(rec, pool=_InlinePool(rec.show_error))
    infos: list[Any] = []
    for row in range(n):
        answer.handle({"type": "info", "row": row})
        if rec.errors:
            msg = f"save_html: tooltip of row {row}: {rec.errors[-1]}"
            raise RuntimeError(msg)
        reply, bufs = rec.replies.pop() if rec.replies else (None, [])
        infos.append(None if reply is None else {"msg": reply, "bufs": [blob.add(b) for b in bufs]})
        if blob.base64_size() > max_bytes:
            what = f"the map with {row + 1} of {n} tooltips"
            raise _too_large(what, blob.base64_size(), max_bytes)
    manifest = {
        "state": state,
        "atlases": atlas_msgs,
        "infos": infos,
        "search": [_search_text(r) for r in lib.records],
    }
    css = (Path(__file__).parent / "widget.css").read_text(encoding="utf-8")
    text = _page(title or "VectorVision map", manifest, blob, css)
    data = text.encode("utf-8")
    if len(data) > max_bytes:
        raise _too_large("the page", len(data), max_bytes)
    atomic_write_bytes(path, data)
    return len(data)
