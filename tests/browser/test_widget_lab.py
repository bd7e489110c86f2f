"""The widget in a real JupyterLab + kernel + Chromium: real mouse/keyboard input, then assertions
on Python-side state (read from a JSON file the kernel writes from trait observers) and on drawn
pixels. One notebook page is shared by the tests of this module, in order."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"

GROUPS = 6
PER_GROUP = 6
N = GROUPS * PER_GROUP

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
_out = pathlib.Path("kernel_state.json")
_dump_lock = threading.Lock()  # observers also fire in the widget's worker threads
def _dump(_=None):
  with _dump_lock:
    st = dict(hovered=w.hovered, selected=w.selected, selected_paths=w.selected_paths,
              highlighted=w.highlighted, mode=w.mode, query=w.query, progress=w.progress,
              error=w.error, cells=w.cells.tolist(), paths=lib.paths,
              nbrs={{r: [i for i, _ in w.neighbours(r)] for r in range(len(lib))}},
              colours=[r["color"] for r in lib.records])
    tmp = _out.with_suffix(".tmp"); tmp.write_text(json.dumps(st)); tmp.replace(_out)
w.observe(_dump, names=["hovered", "selected", "highlighted", "mode", "query", "progress",
                        "_cells", "_nbr_k", "error"])
_dump()
w"""

SETUP2 = """\
import shutil
from vectorvision_widget.sample import sample_folder
photos = pathlib.Path("photos")
if not photos.exists():
    shutil.copytree(sample_folder(), photos, ignore=shutil.ignore_patterns("NOTICE"))
enc = vv.Encoders.load({models!r})
lib2 = vv.Library()
vv.scan(photos, lib2, encoders=enc, progress=False)
w2 = vv.VectorVision(lib2, encoders=enc, height=560)
scans = []
_out2 = pathlib.Path("kernel_state2.json")
def _dump2(_=None):
  with _dump_lock:  # build and write under one lock, or an older snapshot can land last
    q = w2.query.strip()
    st = dict(query=q, highlighted=w2.highlighted, progress=w2.progress, error=w2.error,
              version=w2._data_version, n=len(lib2), hovered=w2.hovered, cells=w2.cells.tolist(),
              names=[pathlib.Path(p).name for p in lib2.paths], banner=w2.banner,
              expected=[r for r, _ in lib2.search(q, encoders=enc, k=w2.search_k)] if q else [],
              last_scan=None if getattr(w2, "last_scan", None) is None else dict(
                  added=len(w2.last_scan.added), updated=len(w2.last_scan.updated),
                  failed=len(w2.last_scan.failed)))
    tmp = _out2.with_suffix(".tmp"); tmp.write_text(json.dumps(st)); tmp.replace(_out2)
w2.observe(_dump2, names=["query", "highlighted", "progress", "error", "_data_version", "hovered",
                          "_cells"])
_dump2()
w2"""

PAGE_ERRORS: list[str] = []


def _write_nb(path: Path, cells: list[str]) -> None:
    def cell(src: str) -> dict[str, Any]:
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": src}  # fmt: skip

    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": [cell(c) for c in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
    }  # fmt: skip
    path.write_text(json.dumps(nb))


class Lab:
    """The open notebook: kernel state, canvas geometry, and a way to run code in the kernel."""

    def __init__(self, page: Any, root: Path, index: int = 0) -> None:
        self.page = page
        self.root = root
        self.widget = page.locator(".vv-root").nth(index)
        self.stage = self.widget.locator(".vv-stage")
        self.base = self.widget.locator("canvas.vv-base")
        self.state_file = root / (
            "kernel_state.json" if index == 0 else f"kernel_state{index + 1}.json"
        )

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

    def run(self, code: str) -> None:
        """Type ``code`` into the last cell and run it (as a user would)."""
        cell = self.page.locator(".jp-Notebook .jp-Cell").last
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.insert_text(code)
        self.page.keyboard.press("Control+Enter")


@pytest.fixture(scope="module")
def lab(lab_server: dict[str, Any], browser: Any, tiny_models_dir: Path) -> Iterator[Lab]:
    root = lab_server["root"]
    setup = SETUP.format(repo=str(REPO), groups=GROUPS, per=PER_GROUP)
    _write_nb(root / "widget.ipynb", [setup, SETUP2.format(models=str(tiny_models_dir)), "pass"])
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    page.on("pageerror", lambda e: PAGE_ERRORS.append(str(e)))
    page.on(
        "console", lambda m: m.type == "error" and "vv" in m.text and PAGE_ERRORS.append(m.text)
    )
    page.goto(f"{lab_server['base']}/lab/tree/widget.ipynb?reset&token={lab_server['token']}")
    page.locator(".jp-Notebook").wait_for(timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("(ipykernel) | Idle", timeout=60_000)
    page.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
    page.locator(".lm-Menu").get_by_text("Run All Cells", exact=True).click()
    page.locator("canvas.vv-base[data-ready='1']").nth(1).wait_for(timeout=90_000)
    lab = Lab(page, root)
    lab.stage.scroll_into_view_if_needed()
    # Ready: SOM done, neighbour table ready, thumbnails sent.
    lab.wait_state(lambda s: "som" not in s["progress"] and s["progress"].get("table") == "ready"
                   and "thumbs" not in s["progress"], timeout=60)  # fmt: skip
    page.wait_for_timeout(500)  # atlases decoded and drawn
    lab.second = Lab(page, root, 1)
    lab.second.wait_state(lambda s: "som" not in s["progress"] and "thumbs" not in s["progress"]
                          and s["progress"].get("table") == "ready", timeout=60)  # fmt: skip
    lab.stage.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # atlases decoded and drawn
    yield lab
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget_lab.png"))
    page.close()


def _near(a: np.ndarray, b: Any, tol: int = 24) -> bool:
    return bool(np.abs(np.asarray(a, int) - np.asarray(b, int)).max() <= tol)


def test_map_draws_each_thumbnail_in_its_cell(lab: Lab) -> None:
    st = lab.state()
    arr = lab.pixels()
    for row in range(N):
        got = lab.pixel_at(arr, lab.local_xy(row, st))
        assert _near(got, st["colours"][row]), (row, got, st["colours"][row])


def test_shift_hover_sets_hovered_and_lights_up_neighbours(lab: Lab) -> None:
    st = lab.state()
    row = 7
    nbrs = st["nbrs"][str(row)]
    assert nbrs, "the neighbour table is empty"
    before = lab.pixels()
    lab.page.mouse.move(*lab.cell_xy(row, st, 0.3, 0.3))
    lab.page.keyboard.down("Shift")
    lab.page.mouse.move(*lab.cell_xy(row, st), steps=3)
    try:
        lab.wait_state(lambda s: s["hovered"] == row)
        after = lab.pixels()
    finally:
        lab.page.keyboard.up("Shift")
    others = [r for r in range(N) if r != row and r not in nbrs]
    dimmed = sum(
        not _near(lab.pixel_at(after, lab.local_xy(r, st)),
                  lab.pixel_at(before, lab.local_xy(r, st)), 30)
        for r in others
    )  # fmt: skip
    kept = sum(
        _near(lab.pixel_at(after, lab.local_xy(r, st)),
              lab.pixel_at(before, lab.local_xy(r, st)), 8)
        for r in nbrs
    )  # fmt: skip
    assert dimmed == len(others), f"{dimmed}/{len(others)} non-neighbours dimmed"
    assert kept == len(nbrs), f"{kept}/{len(nbrs)} neighbours kept at full strength"
    # A ring (the theme accent) around each neighbour: the cell's edge pixels change colour.
    for r in nbrs:
        edge = lab.edge_xy(r, st)
        assert not _near(lab.pixel_at(after, edge), st["colours"][r], 30), r
    lab.wait_state(lambda s: s["hovered"] is None)


def test_click_and_ctrl_click_select(lab: Lab) -> None:
    st = lab.state()
    lab.page.mouse.click(*lab.cell_xy(3, st))
    lab.wait_state(lambda s: s["selected"] == [3])
    lab.page.keyboard.down("Control")
    lab.page.mouse.click(*lab.cell_xy(11, st))
    lab.page.keyboard.up("Control")
    st = lab.wait_state(lambda s: sorted(s["selected"]) == [3, 11])
    assert sorted(st["selected_paths"]) == sorted([st["paths"][3], st["paths"][11]])


def test_ctrl_drag_box_selects_the_rows_inside(lab: Lab) -> None:
    st = lab.state()
    cells = np.array(st["cells"])
    r0, c0 = cells.min(axis=0)
    rb, cb = r0 + 2, c0 + 3  # a 3×4 block of cells from the top-left occupied corner
    inside = [i for i, (r, c) in enumerate(cells) if r0 <= r <= rb and c0 <= c <= cb]
    assert inside, "no rows in the box; the layout is degenerate"
    s, tx, ty = lab.view()
    lab.stage.scroll_into_view_if_needed()
    box = lab.stage.bounding_box()
    x0, y0 = box["x"] + 1 + tx + (c0 + 0.5) * s, box["y"] + 1 + ty + (r0 + 0.5) * s
    x1, y1 = box["x"] + 1 + tx + (cb + 0.5) * s, box["y"] + 1 + ty + (rb + 0.5) * s
    lab.page.mouse.click(box["x"] + 3, box["y"] + 3)  # empty corner: clears the selection
    lab.wait_state(lambda s: s["selected"] == [])
    lab.page.keyboard.down("Control")
    lab.page.mouse.move(x0, y0)
    lab.page.mouse.down()
    lab.page.mouse.move(x1, y1, steps=6)
    lab.page.mouse.up()
    lab.page.keyboard.up("Control")
    want = sorted(st["paths"][i] for i in inside)
    lab.wait_state(lambda s: sorted(s["selected_paths"]) == want)


def test_selection_set_from_python_is_drawn(lab: Lab) -> None:
    st = lab.state()
    target = 20
    before = lab.pixels()
    edge = lab.edge_xy(target, st)
    lab.run(f"w.selected = [{target}]")
    lab.wait_state(lambda s: s["selected"] == [target])
    lab.page.wait_for_timeout(300)
    after = lab.pixels()  # stage-local: the notebook scrolled to the edited cell meanwhile
    assert not _near(lab.pixel_at(after, edge), lab.pixel_at(before, edge), 30)
    # and the centre of the image is still the image
    assert _near(lab.pixel_at(after, lab.local_xy(target, st)), st["colours"][target])


def test_name_search_without_encoders_highlights_matches(lab: Lab) -> None:
    search = lab.page.locator("input.vv-search").first
    search.fill("group2")
    search.press("Enter")
    want = list(range(2 * PER_GROUP, 3 * PER_GROUP))
    st = lab.wait_state(lambda s: sorted(s["highlighted"]) == want)
    assert st["query"] == "group2"
    search.press("Escape")
    lab.wait_state(lambda s: s["highlighted"] == [] and s["query"] == "")


def test_mode_toggle_retrains_the_layout(lab: Lab) -> None:
    old = lab.state()["cells"]
    lab.page.locator("button.vv-mode[data-mode='semantic']").first.click()
    st = lab.wait_state(lambda s: s["mode"] == "semantic" and "som" not in s["progress"]
                        and s["cells"] != old)  # fmt: skip
    assert len({tuple(c) for c in st["cells"]}) == N  # still one image per cell
    lab.page.locator("button.vv-mode[data-mode='visual']").first.click()
    lab.wait_state(lambda s: s["mode"] == "visual" and s["cells"] == old)


def test_text_search_with_encoders_highlights_in_rank_order(lab: Lab) -> None:
    two = lab.second
    two.stage.scroll_into_view_if_needed()
    search = two.widget.locator("input.vv-search")
    search.fill("a photo of a cat")
    search.press("Enter")
    st = two.wait_state(
        lambda s: s["query"] and s["highlighted"] and s["highlighted"] == s["expected"]
    )
    assert len(st["highlighted"]) == min(24, st["n"])
    before = two.pixels()
    first = st["highlighted"][0]
    edge = two.edge_xy(first, st)
    search.press("Escape")
    two.wait_state(lambda s: s["highlighted"] == [])
    two.page.wait_for_timeout(200)
    after = two.pixels()
    assert not _near(two.pixel_at(before, edge), two.pixel_at(after, edge), 30)


def test_readme_screenshot_with_shift_hover(lab: Lab) -> None:
    """docs/screenshot.png: the bundled sample photos on the map, mid Shift+Hover on the cat."""
    two = lab.second
    st = two.state()
    assert st["banner"] == "" and two.widget.locator(".vv-banner").is_hidden()
    row = st["names"].index("cat_chelsea.jpg")
    lab.page.evaluate("document.activeElement && document.activeElement.blur()")
    # Zoomed in far enough, every visible cell gets a sharp thumbnail: wait until all arrived.
    two.widget.evaluate(
        "el => new Promise((ok, bad) => { const t0 = performance.now(); (function poll() {"
        " const g = el.__vv.grid; if (g.sharp.size >= g.n) return ok();"
        " if (performance.now() - t0 > 20000) return bad(new Error(`sharp ${g.sharp.size}`));"
        " setTimeout(poll, 50); })(); })"
    )
    two.page.mouse.move(*two.cell_xy(row, st, 0.2, 0.2))
    two.page.keyboard.down("Shift")
    two.page.mouse.move(*two.cell_xy(row, st), steps=2)
    try:
        two.wait_state(lambda s: s["hovered"] == row)
        two.page.wait_for_timeout(200)
        shot = two.widget.screenshot()
    finally:
        two.page.keyboard.up("Shift")
    (REPO / "docs").mkdir(exist_ok=True)
    (REPO / "docs" / "screenshot.png").write_bytes(shot)
    img = Image.open(io.BytesIO(shot))
    assert img.width > 600 and img.height > 500


def test_rescan_button_rescans_and_refreshes(lab: Lab) -> None:
    two = lab.second
    v0 = two.state()["version"]
    button = two.widget.locator("button.vv-rescan")
    expect(button).to_be_enabled()
    assert not lab.widget.locator("button.vv-rescan").is_enabled()  # no encoders: disabled
    button.click()
    st = two.wait_state(lambda s: s["version"] > v0 and s["last_scan"] is not None
                        and "scan" not in s["progress"], timeout=90)  # fmt: skip
    assert st["last_scan"]["failed"] == 0
    assert st["last_scan"]["added"] + st["last_scan"]["updated"] == st["n"]
    two.wait_state(lambda s: "som" not in s["progress"] and "thumbs" not in s["progress"])


def test_banner_for_missing_visual_features(lab: Lab) -> None:
    """A library scanned before visual features existed: the banner says what the map uses and
    how many images need a rescan."""
    lab.run(
        "lib3 = vv.Library.from_arrays(paths[:8], np.array(sem[:8]), records=records[:8])\n"
        "w3 = vv.VectorVision(lib3, height=200)\nw3"
    )
    three = lab.page.locator(".vv-root").nth(2)
    banner = three.locator(".vv-banner")
    expect(banner).to_be_visible(timeout=30_000)
    expect(banner).to_contain_text("8 images need a rescan")
    expect(banner).to_contain_text("Shift+Hover")
    expect(lab.widget.locator(".vv-banner")).to_be_hidden()  # complete libraries: no banner


def test_no_page_errors(lab: Lab) -> None:
    assert PAGE_ERRORS == []
