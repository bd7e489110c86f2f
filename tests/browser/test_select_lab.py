"""Selection, the neighbour panel and the duplicate review in a real JupyterLab: a real mouse
lasso sets ``w.selected``; Shift+Hover opens the panel with k + 1 images and a click in it moves
the view; a click in the duplicate review changes ``w.duplicate_choices``. Screenshots of each go
to artifacts/ (git-ignored)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nbpage import ARTIFACTS, ConsoleLog, NotebookPage, open_notebook, setup_code, write_nb

EXTRA = """\
import shutil
for j in (1, 2):  # two byte-identical copies of image 0: one exact duplicate group of three
    shutil.copyfile(lib.paths[0], f"imgs/dup{j}.png")
import hashlib
recs = [dict(r, sha256=hashlib.sha256(pathlib.Path(r["path"]).read_bytes()).hexdigest())
        for r in lib.records]
extra = [dict(recs[0], path=str(pathlib.Path(f"imgs/dup{j}.png").resolve())) for j in (1, 2)]
recs[0]["width"], recs[0]["height"] = 48, 36
lib3 = vv.Library.from_arrays([r["path"] for r in recs + extra],
                              np.vstack([lib.features, lib.features[:1], lib.features[:1]]),
                              np.vstack([lib.visual_features, lib.visual_features[:1],
                                         lib.visual_features[:1]]), records=recs + extra)
w3 = vv.VectorVision(lib3, height=420)
_out3 = pathlib.Path("kernel_state3.json")
def _dump3(_=None):
  with _dump_lock:
    st = dict(choices={str(k): v for k, v in w3.duplicate_choices.items()},
              groups=w3.duplicate_groups, progress=w3.progress, hovered=w3.hovered,
              cells=w3.cells.tolist(), error=w3.error)
    tmp = _out3.with_suffix(".tmp"); tmp.write_text(json.dumps(st)); tmp.replace(_out3)
w3.observe(_dump3, names=["_duplicate_choices", "_duplicate_review", "progress", "_cells"])
_dump3()
w3"""

LOG = ConsoleLog()


@pytest.fixture(scope="module")
def page(lab_server: dict[str, Any], browser: Any) -> Iterator[NotebookPage]:
    root = lab_server["root"]
    write_nb(root / "select.ipynb", [setup_code("kernel_state_sel.json"), EXTRA, "pass"])
    pg = browser.new_page(viewport={"width": 1200, "height": 1000})
    pg.add_init_script("window.__vvDebug = true")
    LOG.attach(pg)
    open_notebook(
        pg, f"{lab_server['base']}/lab/tree/select.ipynb?reset&token={lab_server['token']}"
    )
    pg.locator("canvas.vv-base[data-ready='1']").nth(1).wait_for(timeout=90_000)
    nb = NotebookPage(pg, root, 0, "kernel_state_sel.json")
    nb.wait_state(
        lambda s: (
            "som" not in s["progress"]
            and s["progress"].get("table") == "ready"
            and "thumbs" not in s["progress"]
        ),
        timeout=60,
    )
    nb.stage.scroll_into_view_if_needed()
    pg.wait_for_timeout(500)
    yield nb
    pg.close()


def _shot(nb: NotebookPage, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    nb.widget.screenshot(path=str(ARTIFACTS / name))


def test_a_mouse_lasso_selects_the_enclosed_cells(page: NotebookPage) -> None:
    st = page.state()
    cells = np.array(st["cells"])
    r0, c0 = cells.min(axis=0)
    # a triangle over the top-left corner of the occupied cells: centres with dr + dc <= 2
    want = sorted(
        i for i, (r, c) in enumerate(cells) if (r - r0) + (c - c0) <= 2 and r >= r0 and c >= c0
    )
    assert len(want) >= 3
    s, tx, ty = page.view()
    page.stage.scroll_into_view_if_needed()
    box = page.stage.bounding_box()

    def xy(r: float, c: float) -> tuple[float, float]:
        return box["x"] + 1 + tx + (c0 + c) * s, box["y"] + 1 + ty + (r0 + r) * s

    page.widget.locator(".vv-shape[data-shape='lasso']").click()
    pts = [xy(0.05, 0.05), xy(0.05, 3.4), xy(1.7, 1.7), xy(3.4, 0.05)]
    page.page.keyboard.down("Alt")
    page.page.mouse.move(*pts[0])
    page.page.mouse.down()
    for p in pts[1:]:
        page.page.mouse.move(*p, steps=5)
    ARTIFACTS.mkdir(exist_ok=True)
    page.widget.screenshot(path=str(ARTIFACTS / "lasso_drawing.png"))
    page.page.mouse.up()
    page.page.keyboard.up("Alt")
    page.wait_state(lambda s: sorted(s["selected"]) == want)
    count = page.widget.locator(".vv-selcount").text_content()
    assert count == f"{len(want)} selected"
    _shot(page, "lasso_selection.png")


def test_neighbour_panel_on_shift_hover_and_click_centres(page: NotebookPage) -> None:
    st = page.state()
    row = 7
    k = len(st["nbrs"][str(row)])
    assert k
    panel = page.widget.locator(".vv-nbpanel")
    try:
        page.shift_hover(row, st)
        panel.wait_for(state="visible", timeout=5000)
        cards = panel.locator(".vv-nb")
        assert cards.count() == k + 1
        assert int(cards.nth(0).get_attribute("data-row")) == row
        want_names = {Path(st["paths"][r]).name for r in [row, *st["nbrs"][str(row)]]}
        page.page.wait_for_function(
            "el => ![...el.querySelectorAll('.vv-nb-name')].some(n => n.textContent === '…')",
            arg=panel.element_handle(),
            timeout=10_000,
        )
        assert {cards.nth(i).locator(".vv-nb-name").text_content() for i in range(k + 1)} == (
            want_names
        )
        _shot(page, "neighbour_panel.png")
    finally:
        page.page.keyboard.up("Shift")
    assert panel.is_visible()  # stays after Shift, so it can be clicked
    before = page.view()
    target = int(panel.locator(".vv-nb").nth(k).get_attribute("data-row"))
    panel.locator(".vv-nb").nth(k).click()
    page.page.wait_for_function(
        f"el => el.dataset.view !== {','.join(str(v) for v in before)!r}",
        arg=page.base.element_handle(),
        timeout=5000,
    )
    s, tx, ty = page.view()
    r, c = st["cells"][target]
    stage = page.stage.bounding_box()
    w, h = stage["width"] - 2, stage["height"] - 2  # less the 1-px border
    assert abs(tx + (c + 0.5) * s - w / 2) < 2  # that image is in the middle now
    assert abs(ty + (r + 0.5) * s - h / 2) < 2
    assert s >= before[0]


def test_duplicate_review_returns_a_changed_choice(page: NotebookPage) -> None:
    view = NotebookPage.of(
        page.page, page.root, page.page.locator(".vv-root").nth(1), "kernel_state3.json"
    )
    view.wait_state(lambda s: "som" not in s["progress"], timeout=60)
    view.stage.scroll_into_view_if_needed()
    view.widget.locator(".vv-dups").click()
    st = view.wait_state(lambda s: len(s["groups"]) >= 1, timeout=30)
    group = st["groups"][0]
    assert group["tier"] == "exact" and len(group["rows"]) == 3
    assert st["choices"]["0"] == group["suggested"] == 0  # recorded as the largest
    review = view.widget.locator(".vv-dupreview")
    review.wait_for(state="visible")
    other = next(r for r in group["rows"] if r != group["suggested"])
    item = review.locator(f".vv-dup-group[data-group='0'] .vv-dup-item[data-row='{other}']")
    item.click()
    view.wait_state(lambda s: s["choices"].get("0") == other)
    assert "vv-dup-kept" in (item.get_attribute("class") or "")
    _shot(view, "duplicate_review.png")
    assert json.dumps(LOG.ours()) == "[]", LOG.ours()
