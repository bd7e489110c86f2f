"""What a new user trips on, in a real JupyterLab + kernel + Chromium (issue 21): the click that
focuses the map only focuses it, Shift+Hover right after a search, transparent emoji on the page
background, the tooltip's folder/date/camera, the zoom limit and 1:1 for small sources, the
labelled hybrid slider. One notebook of 64-px emoji in two vendor folders, scanned with the tiny
models; assertions on the kernel's state (a JSON file its observers write) and on pixels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nbpage import REPO, ConsoleLog, NotebookPage, near, open_notebook, write_nb
from playwright.sync_api import expect

SETUP = """\
import json, pathlib, sys, threading
sys.path.insert(0, {repo!r})
import vectorvision_widget as vv
from PIL import Image, ImageDraw

root = pathlib.Path("emoji")
colours = [(250, 200, 0), (220, 40, 40), (40, 160, 60), (40, 90, 220), (200, 60, 200)]
for vendor in ("apple", "google"):
    (root / vendor).mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(colours):
        im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        ImageDraw.Draw(im).ellipse((16, 16, 48, 48), fill=(*c, 255))
        name = "flushed.png" if i == 0 else f"e{{i}}.png"
        im.save(root / vendor / name)
enc = vv.Encoders.load({models!r})
lib = vv.Library()
vv.scan(root, lib, encoders=enc, progress=False)
row0 = lib.row_of(str((root / "apple" / "flushed.png").resolve()))
lib.records[row0]["taken"], lib.records[row0]["camera"] = "2023-06-01T14:02:33", "Pixel 7"
w = vv.VectorVision(lib, encoders=enc, height=420)
_out = pathlib.Path("kernel_state.json")
_lock = threading.Lock()
def _dump(_=None):
  with _lock:
    st = dict(hovered=w.hovered, selected=w.selected, query=w.query, progress=w.progress,
              cells=w.cells.tolist(), paths=lib.paths, row0=row0, mode=w.mode,
              colours=[r["color"] for r in lib.records], sharp=w._sharp_sizes)
    tmp = _out.with_suffix(".tmp"); tmp.write_text(json.dumps(st)); tmp.replace(_out)
w.observe(_dump, names=["hovered", "selected", "query", "progress", "_cells", "mode"])
_dump()
w"""

LOG = ConsoleLog()


@pytest.fixture(scope="module")
def nb(lab_server: dict[str, Any], browser: Any, tiny_models_dir: Path) -> Iterator[NotebookPage]:
    root = lab_server["root"]
    setup = SETUP.format(repo=str(REPO), models=str(tiny_models_dir))
    write_nb(root / "everyday.ipynb", [setup, "pass"])
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.add_init_script("window.__vvDebug = true")
    LOG.attach(page)
    url = f"{lab_server['base']}/lab/tree/everyday.ipynb?reset&token={lab_server['token']}"
    open_notebook(page, url)
    page.locator("canvas.vv-base[data-ready='1']").first.wait_for(timeout=90_000)
    view = NotebookPage(page, root)
    view.wait_state(
        lambda s: (
            "som" not in s["progress"]
            and s["progress"].get("table") == "ready"
            and "thumbs" not in s["progress"]
        ),
        timeout=60,
    )
    view.stage.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    yield view
    page.close()
    assert LOG.ours() == []


def _blur(nb: NotebookPage) -> None:
    nb.page.evaluate("() => document.activeElement?.blur?.()")


def test_the_click_that_focuses_the_map_only_focuses_it(nb: NotebookPage) -> None:
    st = nb.state()
    _blur(nb)
    nb.page.mouse.click(*nb.cell_xy(3, st))  # gives the map the keyboard: no selection
    assert nb.stage.evaluate(
        "el => document.activeElement === el || el.getRootNode().activeElement === el"
    )
    nb.page.keyboard.down("Control")
    nb.page.mouse.click(*nb.cell_xy(5, st))  # Ctrl+click toggles: [3, 5] had the first selected
    nb.page.keyboard.up("Control")
    st = nb.wait_state(lambda s: 5 in s["selected"])
    assert st["selected"] == [5]
    nb.page.mouse.click(*nb.cell_xy(3, st))  # the map has focus now: a click selects
    nb.wait_state(lambda s: s["selected"] == [3])


def test_shift_hover_works_right_after_a_search(nb: NotebookPage) -> None:
    st = nb.state()
    search = nb.widget.locator(".vv-search")
    search.click()
    search.fill("a yellow face")
    nb.page.keyboard.press("Enter")
    nb.wait_state(lambda s: s["query"] == "a yellow face")
    assert nb.stage.evaluate("el => document.activeElement === el")  # the keyboard is the map's
    try:
        nb.shift_hover(4, st)  # no click on the map first
    finally:
        nb.page.keyboard.up("Shift")
    nb.wait_state(lambda s: s["hovered"] is None)
    search.click()
    nb.page.keyboard.press("Escape")
    nb.wait_state(lambda s: s["query"] == "")
    assert nb.stage.evaluate("el => document.activeElement === el")


def test_emoji_sit_on_the_page_background_and_keep_their_colours(nb: NotebookPage) -> None:
    st = nb.state()
    assert st["colours"][st["row0"]] == [250, 200, 0]  # not a grey-yellow mix
    nb.stage.focus()
    for _ in range(12):
        nb.page.keyboard.press("+")
    arr = nb.pixels()
    h, w = arr.shape[:2]

    def inside(r: int) -> bool:
        x, y = nb.local_xy(r, st, 0.12, 0.12)
        return 0 <= x < w and 0 <= y < h

    rows = [r for r in range(len(st["paths"])) if inside(r)]
    assert rows, "no cell in view"
    bg = nb.stage.evaluate("el => getComputedStyle(el).getPropertyValue('--jp-layout-color2')")
    for r in rows[:4]:
        corner = nb.pixel_at(arr, nb.local_xy(r, st, 0.12, 0.12))  # outside the disc: transparent
        assert not near(corner, (128, 128, 128), 30), (r, corner, bg)
        assert near(corner, (238, 238, 238), 12), (r, corner, bg)
    nb.page.keyboard.press("0")


def test_zoom_stops_at_twice_a_small_source_and_1_is_actual_size(nb: NotebookPage) -> None:
    st = nb.state()
    assert st["sharp"] == [16, 32, 64]
    nb.stage.focus()
    for _ in range(30):
        nb.page.keyboard.press("+")
    dpr = nb.page.evaluate("window.devicePixelRatio")
    s, _, _ = nb.view()
    assert abs(s * dpr - 128) < 1  # 2 × 64 px, not 512
    nb.page.keyboard.press("1")
    s, _, _ = nb.view()
    whole_map = nb.debug("vv.limits().min")  # 10 emoji fill the stage at ~100 px per cell
    assert abs(s - max(64 / dpr, whole_map)) < 1
    expect(nb.widget.locator(".vv-zoom-level")).to_have_text(f"{round(100 * s * dpr / 64)}%")
    nb.page.keyboard.press("0")


def test_tooltip_names_folder_date_and_camera(nb: NotebookPage) -> None:
    st = nb.state()
    _blur(nb)
    nb.page.mouse.move(*nb.cell_xy(st["row0"], st, 0.4, 0.4))
    nb.page.mouse.move(*nb.cell_xy(st["row0"], st), steps=3)
    tip = nb.widget.locator(".vv-tooltip")
    expect(tip.locator(".vv-tip-name")).to_have_text("flushed.png", timeout=10_000)
    expect(tip.locator(".vv-tip-folder")).to_have_text("in emoji/apple")
    expect(tip.locator(".vv-tip-taken")).to_have_text("2023-06-01 14:02 · Pixel 7")
    keywords = tip.locator(".vv-tip-keywords")
    if keywords.count():
        assert "grey" not in keywords.inner_text()
    nb.page.mouse.move(5, 5)


def test_the_hybrid_slider_is_labelled(nb: NotebookPage) -> None:
    nb.widget.locator("button.vv-mode[data-mode='hybrid']").click()
    nb.wait_state(lambda s: s["mode"] == "hybrid")
    label = nb.widget.locator(".vv-weight-label")
    expect(label).to_be_visible()
    expect(label).to_have_text("meaning  look")
    nb.widget.locator("button.vv-mode[data-mode='visual']").click()
    nb.wait_state(lambda s: s["mode"] == "visual")
