"""Shared by the browser tests: the notebooks they run, a handle on an open notebook page (kernel
state, canvas geometry, running code), and a log of the page's console errors with their source."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("VV_ARTIFACTS", REPO / "artifacts"))

GROUPS = 6
PER_GROUP = 6
N = GROUPS * PER_GROUP

# A 36-image library in 6 visual groups (solid colours, no palettes); the kernel writes the
# widget's state to kernel_state.json on every change, which the tests read.
SETUP = """\
import json, pathlib, sys, threading
sys.path.insert(0, {repo!r})
import numpy as np
import vectorvision_widget as vv
from PIL import Image

folder = pathlib.Path("imgs"); folder.mkdir(exist_ok=True)
rng = np.random.default_rng(0)
paths, vis, sem = [], [], []
for g in range({groups}):
    base = np.eye({groups} + 2)[g]
    for j in range({per}):
        colour = ((g * 40 + 30) % 256, (j * 40 + 20) % 256, (g * 90 + j * 17) % 256)
        p = folder / f"group{{g}}_img{{j}}.png"
        Image.new("RGB", (48, 36), colour).save(p)
        paths.append(str(p.resolve()))
        vis.append(base + 0.05 * rng.normal(size=base.size))
        sem.append(rng.normal(size=6))
records = [dict(path=p, color=list(Image.open(p).getpixel((0, 0))),
                keywords=[dict(label=f"group{{i // {per}}}", score=0.5)])
           for i, p in enumerate(paths)]
lib = vv.Library.from_arrays(paths, np.array(sem), np.array(vis), records=records)
w = vv.VectorVision(lib, height=420)
_out = pathlib.Path({state!r})
_dump_lock = threading.Lock()  # observers also fire in the widget's worker threads
def _dump(_=None):
  with _dump_lock:
    st = dict(hovered=w.hovered, selected=w.selected, selected_paths=w.selected_paths,
              highlighted=w.highlighted, mode=w.mode, query=w.query, colour_query=w.colour_query,
              progress=w.progress, error=w.error, status=w.status, cells=w.cells.tolist(),
              paths=lib.paths, nbrs={{r: [i for i, _ in w.neighbours(r)] for r in range(len(lib))}},
              colours=[r["color"] for r in lib.records])
    tmp = _out.with_suffix(".tmp"); tmp.write_text(json.dumps(st)); tmp.replace(_out)
w.observe(_dump, names=["hovered", "selected", "highlighted", "mode", "query", "colour_query",
                        "progress", "_cells", "_table", "error", "status"])
_dump()
w"""


def setup_code(state: str = "kernel_state.json") -> str:
    return SETUP.format(repo=str(REPO), groups=GROUPS, per=PER_GROUP, state=state)


def write_nb(path: Path, cells: list[str]) -> None:
    def cell(src: str) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": src,
        }

    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": [cell(c) for c in cells],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    }
    path.write_text(json.dumps(nb))


def near(a: Any, b: Any, tol: int = 24) -> bool:
    return bool(np.abs(np.asarray(a, int) - np.asarray(b, int)).max() <= tol)


@dataclass
class ConsoleLog:
    """Console errors and uncaught exceptions of a page, each with where it came from."""

    entries: list[dict[str, str]] = field(default_factory=list)

    def attach(self, page: Any) -> ConsoleLog:
        def on_console(m: Any) -> None:
            if m.type == "error":
                loc = m.location or {}
                self.entries.append({"kind": "console", "text": m.text, "url": loc.get("url", "")})

        def on_error(e: Any) -> None:
            text = f"{e.name}: {e.message}"
            self.entries.append({"kind": "pageerror", "text": text, "url": "", "stack": e.stack})

        page.on("console", on_console)
        page.on("pageerror", on_error)
        return self

    def ours(self) -> list[dict[str, str]]:
        """Entries that name the widget (its CSS classes, its bundle, anywidget's loader)."""
        keys = ("vv-", "vectorvision", "anywidget", "__vv", "widget.js")
        return [e for e in self.entries if any(k in json.dumps(e) for k in keys)]

    def texts(self) -> list[str]:
        return [e["text"] for e in self.entries]


class NotebookPage:
    """An open notebook (JupyterLab or Notebook 7): kernel state, canvas geometry, running code."""

    def __init__(self, page: Any, root: Path, index: int = 0, state: str | None = None) -> None:
        self.page = page
        self.root = root
        self.widget = page.locator(".vv-root").nth(index)
        self.stage = self.widget.locator(".vv-stage")
        self.base = self.widget.locator("canvas.vv-base")
        self.over = self.widget.locator("canvas.vv-overlay")
        default = "kernel_state.json" if index == 0 else f"kernel_state{index + 1}.json"
        self.state_file = root / (state or default)

    @classmethod
    def of(cls, page: Any, root: Path, widget: Any, state: str) -> NotebookPage:
        """The view in ``widget`` (a locator of one ``.vv-root``) with kernel state in ``state``."""
        view = cls(page, root, 0, state)
        view.widget, view.stage = widget, widget.locator(".vv-stage")
        view.base = widget.locator("canvas.vv-base")
        view.over = widget.locator("canvas.vv-overlay")
        return view

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    def wait_state(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict:
        end = time.monotonic() + timeout
        st: dict[str, Any] = {}
        while time.monotonic() < end:
            try:
                st = self.state()
                if pred(st):
                    return st
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"kernel state never matched; last: {json.dumps(st)[:2000]}")

    def view(self) -> tuple[float, float, float]:
        s, tx, ty = (float(v) for v in self.base.get_attribute("data-view").split(","))
        return s, tx, ty

    def debug(self, expr: str) -> Any:
        """Evaluate ``expr`` with ``vv`` = the widget's debug hook (``root.__vv``)."""
        return self.widget.evaluate(f"el => {{ const vv = el.__vv; return {expr}; }}")

    def local_xy(self, row: int, st: dict[str, Any], fx: float = 0.5, fy: float = 0.5) -> tuple:
        """Stage-local coordinates (what :meth:`pixels` indexes) of a point inside ``row``'s cell
        (fractions fx, fy of the cell). The 1 px is the stage's border."""
        s, tx, ty = self.view()
        r, c = st["cells"][row]
        return 1 + tx + (c + fx) * s, 1 + ty + (r + fy) * s

    def edge_xy(self, row: int, st: dict[str, Any], px: float = 1.4) -> tuple:
        """Stage-local point ``px`` pixels below the middle of ``row``'s top edge: the pixel it
        falls in is >= 60 % covered by the 2-3 px rings drawn for selection, highlights and
        neighbours, whatever the zoom (a fixed fraction of the cell is not)."""
        x, y = self.local_xy(row, st, 0.5, 0.0)
        return x, y + px

    def cell_xy(self, row: int, st: dict[str, Any], fx: float = 0.5, fy: float = 0.5) -> tuple:
        """Page coordinates (for the mouse) of a point inside ``row``'s cell. The notebook scrolls
        (running a cell scrolls to it), so the stage is brought into view and measured each time."""
        self.stage.scroll_into_view_if_needed()
        box = self.stage.bounding_box()
        x, y = self.local_xy(row, st, fx, fy)
        return box["x"] + x, box["y"] + y

    def pixels(self) -> np.ndarray:
        """The stage's pixels, indexed by stage-local coordinates (independent of scrolling)."""
        img = Image.open(io.BytesIO(self.stage.screenshot())).convert("RGB")
        return np.asarray(img, dtype=np.int16)

    def pixel_at(self, arr: np.ndarray, xy: tuple[float, float]) -> np.ndarray:
        x, y = xy
        assert 0 <= x < arr.shape[1] and 0 <= y < arr.shape[0], (xy, arr.shape)
        return arr[int(y), int(x)]

    def shift_hover(self, row: int, st: dict[str, Any]) -> None:
        """Hold Shift over ``row`` until the kernel has ``hovered == row``; Shift stays down."""
        self.page.mouse.move(*self.cell_xy(row, st, 0.3, 0.3))
        self.page.keyboard.down("Shift")
        self.page.mouse.move(*self.cell_xy(row, st), steps=3)
        self.wait_state(lambda s: s["hovered"] == row)

    def run(self, code: str) -> None:
        """Type ``code`` into the last cell and run it (as a user would)."""
        cell = self.page.locator(".jp-Notebook .jp-Cell").last
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.insert_text(code)
        self.page.keyboard.press("Control+Enter")


def open_notebook(page: Any, url: str, timeout_ms: int = 60_000) -> None:
    """Open a notebook (Lab or Notebook 7), wait for an idle kernel, run every cell."""
    page.goto(url)
    page.locator(".jp-Notebook").wait_for(timeout=timeout_ms)
    page.wait_for_function(
        "() => { const w = window.jupyterapp?.shell?.currentWidget;"
        " return w?.sessionContext?.session?.kernel?.status === 'idle'; }",
        timeout=timeout_ms,
    )
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def set_theme(page: Any, name: str) -> None:
    """Switch the page's theme ("JupyterLab Dark" / "JupyterLab Light") and wait until applied."""
    light = "false" if "Dark" in name else "true"
    cmd = f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: {name!r}}})"
    page.evaluate(cmd)
    page.wait_for_function(f"document.body.dataset.jpThemeLight === {light!r}", timeout=30_000)
    page.wait_for_timeout(300)  # theme CSS applied, the widget's observer redrew


def luminance(rgb: Any) -> float:
    """WCAG relative luminance of an (r, g, b) 0..255 colour."""
    c = np.asarray(rgb, float)[:3] / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])


def contrast(a: Any, b: Any) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def css_rgb(text: str) -> tuple[int, int, int]:
    """'rgb(1, 2, 3)' / 'rgba(1, 2, 3, 1)' -> (1, 2, 3)."""
    inner = text[text.index("(") + 1 : text.index(")")]
    r, g, b = (int(float(v)) for v in inner.replace("/", ",").split(",")[:3])
    return r, g, b
