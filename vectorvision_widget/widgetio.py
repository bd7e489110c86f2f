"""Requests from the browser (``model.send``) and their binary answers.

JS asks for what it needs when it needs it: the atlases already built (a view that renders late or
is re-rendered), sharper thumbnails for the cells visible when zoomed in, tooltip details, and a
rescan. Answers go back with JPEG bytes as message buffers. Work runs in a small thread pool so a
slow disk never blocks the kernel or the drawing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_POOL = ThreadPoolExecutor(2, thread_name_prefix="vv-requests")
MAX_ROWS_PER_REQUEST = 256
SHARP_SIZES = (64, 128, 256)


class MessagesMixin:
    """Handles JS → Python messages for :class:`VectorVision` (mixed in, uses its attributes)."""

    def _on_js_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        del buffers
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        try:
            if kind == "hello":
                for atlas in list(self._atlases):  # type: ignore[attr-defined]
                    version = self._data_version  # type: ignore[attr-defined]
                    self.send({"type": "atlas", "version": version, **atlas.header()}, [atlas.jpeg])  # type: ignore[attr-defined]
            elif kind == "thumbs":
                _POOL.submit(self._answer_thumbs, content)
            elif kind == "info":
                _POOL.submit(self._answer_info, content)
            elif kind == "rescan":
                self.rescan()
        except Exception as err:  # a bad request must never raise into the kernel
            self.error = f"{kind}: {type(err).__name__}: {err}"  # type: ignore[attr-defined]

    def _answer_thumbs(self, content: dict[str, Any]) -> None:
        lib = self._lib  # type: ignore[attr-defined]
        size = min(SHARP_SIZES, key=lambda s: abs(s - int(content.get("size", 128))))
        rows = [int(r) for r in content.get("rows", [])][:MAX_ROWS_PER_REQUEST]
        paths = lib.paths
        ok_rows, bufs = [], []
        for row in rows:
            if not 0 <= row < len(paths):
                continue
            data = self._sharp.get(paths[row], size, square=True)  # type: ignore[attr-defined]
            if data is not None:
                ok_rows.append(row)
                bufs.append(data)
        reply = {
            "type": "thumbs",
            "req": content.get("req"),
            "size": size,
            "rows": ok_rows,
            "version": self._data_version,  # type: ignore[attr-defined]
        }
        self.send(reply, bufs)  # type: ignore[attr-defined]

    def _answer_info(self, content: dict[str, Any]) -> None:
        lib = self._lib  # type: ignore[attr-defined]
        row = int(content.get("row", -1))
        if not 0 <= row < len(lib):
            return
        rec = lib.records[row]
        path = lib.paths[row]
        data = self._sharp.get(path, 192, square=False)  # type: ignore[attr-defined]
        exists = Path(path).exists()
        keywords = []
        for kw in (rec.get("keywords") or [])[:5]:
            if isinstance(kw, dict):
                keywords.append([str(kw.get("label", "")), float(kw.get("score") or 0.0)])
            else:
                keywords.append([str(kw), None])
        meta = {
            "row": row,
            "name": Path(path).name,
            "path": path,
            "keywords": keywords,
            "palette": [list(map(int, c[:3])) for c in (rec.get("palette") or [])][:6],
            "width": rec.get("width"),
            "height": rec.get("height"),
            "size": rec.get("size"),
            "missing": not exists,
            "unreadable": exists and data is None,
        }
        reply = {"type": "info", "row": row, "meta": meta, "version": self._data_version}  # type: ignore[attr-defined]
        self.send(reply, [data] if data else [])  # type: ignore[attr-defined]

    def rescan(self) -> None:
        """Re-embed every root folder of the library (``analyzer.scan(..., force=True)``) in the
        background, with a progress bar in the widget, then :meth:`refresh`. Needs encoders."""
        if self._encoders is None:  # type: ignore[attr-defined]
            msg = "rescan needs encoders: VectorVision(lib, encoders=vv.Encoders.load())"
            raise ValueError(msg)
        lib = self._lib  # type: ignore[attr-defined]
        roots = list(getattr(lib, "roots", []) or [])
        if not roots:
            msg = "rescan: the library has no roots (scan a folder with vv.scan first)"
            raise ValueError(msg)

        def on_progress(*args: Any, **kwargs: Any) -> None:
            done, total = _progress_numbers(args, kwargs)
            self._set_progress(scan=[done, total])  # type: ignore[attr-defined]

        def run(job: Any) -> None:
            from . import analyzer

            self._set_progress(scan=[0, 0])  # type: ignore[attr-defined]
            failed = 0
            try:
                for root in roots:
                    if job.cancelled:
                        return
                    report = analyzer.scan(
                        root,
                        lib,
                        encoders=self._encoders,  # type: ignore[attr-defined]
                        force=True,
                        progress=False,
                        on_progress=on_progress,
                    )
                    failed += len(report.failed)
                    self.last_scan = report
            finally:
                self._set_progress(scan=None)  # type: ignore[attr-defined]
            if failed:
                self.error = f"rescan: {failed} file(s) could not be read (see w.last_scan.failed)"  # type: ignore[attr-defined]
            self._jobs.pop("scan", None)  # type: ignore[attr-defined]
            self.refresh()  # type: ignore[attr-defined]

        self._start("scan", run)  # type: ignore[attr-defined]


def _progress_numbers(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[int, int]:
    """(done, total) from whatever the analyzer's on_progress passes (ints or an object)."""
    nums = [a for a in args if isinstance(a, int | float)]
    if len(nums) >= 2:
        return int(nums[0]), int(nums[1])
    for obj in (*args, kwargs):
        get = obj.get if isinstance(obj, dict) else lambda k, o=obj: getattr(o, k, None)
        done, total = get("done"), get("total")
        if done is not None and total is not None:
            return int(done), int(total)
    return 0, 0
