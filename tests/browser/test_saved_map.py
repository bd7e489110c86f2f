"""`w.save_html(path)`: the saved map opened from file:// in Chromium with no kernel and no
network. Real mouse / keyboard input, then assertions on the page's model (what the kernel would
have received) and on drawn pixels; the expected rows come from Python (the library's cells and
neighbour table, the file names), never from the page's own code."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nbpage import ARTIFACTS, ConsoleLog, NotebookPage

import vectorvision_widget as vv
from vectorvision_widget.sample import sample_folder

LOG = ConsoleLog()


def rgb_of(view: NotebookPage, colour: str) -> list[int]:
    """Any CSS colour as the browser paints it: [r, g, b, a]."""
    return list(
        view.page.evaluate(
            "c => { const x = document.createElement('canvas').getContext('2d'); x.fillStyle = c;"
            " x.fillRect(0, 0, 1, 1); return [...x.getImageData(0, 0, 1, 1).data]; }",
            colour,
        )
    )


class SavedMap(NotebookPage):
    """The saved page: its "kernel state" is the page's own model plus the cells from Python."""

    cells: list[list[int]]

    def state(self) -> dict[str, Any]:
        st = self.page.evaluate(
            "() => { const m = window.vvMap.model; return {hovered: m.get('hovered'),"
            " selected: m.get('selected'), highlighted: m.get('highlighted')}; }"
        )
        return {**st, "cells": self.cells}


@pytest.fixture(scope="module")
def saved(
    browser: Any, encoders: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SavedMap, Any]]:
    tmp = tmp_path_factory.mktemp("saved")
    photos = tmp / "photos"
    shutil.copytree(sample_folder(), photos, ignore=shutil.ignore_patterns("NOTICE"))
    lib = vv.Library()
    vv.scan(photos, lib, encoders=encoders, progress=False)
    w = vv.VectorVision(lib, encoders=encoders, k=5, height=500)
    out = tmp / "map.html"
    size = w.save_html(out, title="Sample map")
    assert size == out.stat().st_size
    w.close()
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.add_init_script("window.__vvDebug = true")
    LOG.attach(page)
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(out.as_uri())
    view = SavedMap(page, tmp)
    view.cells = w.cells.tolist()
    view.widget.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => { const vv = document.querySelector('.vv-root')?.__vv;"
        " return vv && vv.grid.atlases.filter(Boolean).length * vv.grid.perAtlas >= vv.grid.n"
        " && vv.grid.n > 0; }",
        timeout=30_000,
    )
    page.wait_for_timeout(300)
    yield view, w
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "saved_map.png"))
    page.close()
    bad = [u for u in urls if not u.startswith(("file:", "blob:", "data:"))]
    assert bad == [], f"the saved map fetched from the network: {bad}"
    assert LOG.entries == [], LOG.entries


def test_the_saved_map_draws_every_thumbnail(saved: tuple[SavedMap, Any]) -> None:
    view, w = saved
    assert view.debug("vv.grid.n") == len(w.library)
    px = view.pixels()
    st = view.state()
    bg = np.array(rgb_of(view, view.debug("vv.store.get().theme.bg"))[:3], np.int16)  # empty canvas
    for row in range(len(w.library)):  # each cell shows an image, not the background
        (x0, y0), (x1, y1) = view.local_xy(row, st, 0.2, 0.2), view.local_xy(row, st, 0.8, 0.8)
        patch = px[int(y0) : int(y1), int(x0) : int(x1)]
        assert patch.size and np.abs(patch - bg).mean() > 15, row


def test_shift_hover_draws_the_neighbours_from_the_saved_table(saved: tuple[SavedMap, Any]) -> None:
    view, w = saved
    st = view.state()
    row = 3
    before = view.pixels()
    view.shift_hover(row, st)
    try:
        view.page.wait_for_timeout(200)
        after = view.pixels()
        nbrs = view.debug("vv.store.get().hover.nbrs.map(n => n.row)")
        expected = [r for r, _ in w.neighbours(row)]
        assert nbrs[: len(expected)] == expected
        for r in expected[:3]:  # each neighbour's cell is drawn differently (ring / dimming)
            xy = view.edge_xy(r, st)
            assert np.abs(view.pixel_at(after, xy) - view.pixel_at(before, xy)).max() > 30
    finally:
        view.page.keyboard.up("Shift")
    view.wait_state(lambda s: s["hovered"] is None)


def test_tooltip_shows_the_name_and_image_and_ctrl_click_selects(
    saved: tuple[SavedMap, Any],
) -> None:
    view, w = saved
    st = view.state()
    row = 5
    view.page.mouse.move(*view.cell_xy(row, st, 0.4, 0.4))
    view.page.mouse.move(*view.cell_xy(row, st), steps=3)
    tip = view.widget.locator(".vv-tooltip")
    name = Path(w.library.paths[row]).name
    tip.get_by_text(name).first.wait_for(timeout=10_000)
    view.page.wait_for_function(
        "() => [...document.querySelectorAll('.vv-tooltip img')].some(i => i.naturalWidth > 0)",
        timeout=10_000,
    )
    view.stage.focus()  # the click that gives the map the focus only focuses (test_everyday)
    view.page.keyboard.down("Control")
    view.page.mouse.click(*view.cell_xy(row, st))
    view.page.keyboard.up("Control")
    view.wait_state(lambda s: s["selected"] == [row], timeout=10)


def test_zooming_in_shows_sharp_thumbnails_cut_from_the_saved_images(
    saved: tuple[SavedMap, Any],
) -> None:
    view, _ = saved
    st = view.state()
    view.page.mouse.move(*view.cell_xy(0, st))
    for _ in range(12):
        view.page.mouse.wheel(0, -240)
        view.page.wait_for_timeout(40)
    view.page.wait_for_function(
        "() => document.querySelector('.vv-root').__vv.grid.sharp.size > 0", timeout=10_000
    )


def test_search_by_name_highlights_the_matching_files(saved: tuple[SavedMap, Any]) -> None:
    # last: the view fits the hits, so the cells of the other tests may leave the stage
    view, w = saved
    names = [Path(p).name.lower() for p in w.library.paths]
    expected = [i for i, name in enumerate(names) if "cat" in name]
    assert expected  # the sample has cat_chelsea*.jpg
    box = view.widget.locator("input.vv-search")
    box.fill("cat")
    box.press("Enter")
    st = view.wait_state(lambda s: s["highlighted"] == expected, timeout=10)
    assert st["highlighted"] == expected
    box.fill("")
    box.press("Enter")
    view.wait_state(lambda s: s["highlighted"] == [], timeout=10)
