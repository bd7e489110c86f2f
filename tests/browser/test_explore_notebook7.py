"""The finding tools in Jupyter Notebook 7 (the JupyterLab tests cover them in Lab): on the
36-image library of the other browser tests the region labels are computed and drawn, a real
Alt+mouse lasso sets ``w.selected``, and ``w.filter`` set from Python updates the count and dims
the images it leaves out (assertions on kernel state and on drawn pixels)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from nbpage import (
    ARTIFACTS,
    PER_GROUP,
    ConsoleLog,
    N,
    NotebookPage,
    open_notebook,
    setup_code,
    write_nb,
)

STATE = "kernel_state_nb7x.json"
EXTRA_STATE = "explore_state_nb7.json"

# labels and the filter, dumped beside the shared setup's kernel state
EXTRA = f"""\
_out_x = pathlib.Path({EXTRA_STATE!r})
def _dump_x(_=None):
  with _dump_lock:
    st = dict(labels=w.labels, filter=w.filter, filter_count=w.filter_count,
              group2=lib.where(keywords=["group2"]))
    tmp = _out_x.with_suffix(".tmp"); tmp.write_text(json.dumps(st)); tmp.replace(_out_x)
w.observe(_dump_x, names=["labels", "filter", "filter_count"])
_dump_x()"""

LOG = ConsoleLog()


@pytest.fixture(scope="module")
def nb7x(lab_server: dict[str, Any], browser: Any) -> Iterator[NotebookPage]:
    root = lab_server["root"]
    write_nb(root / "nb7_explore.ipynb", [setup_code(STATE), EXTRA, "pass"])
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.add_init_script("window.__vvDebug = true")
    LOG.attach(page)
    open_notebook(
        page, f"{lab_server['base']}/notebooks/nb7_explore.ipynb?token={lab_server['token']}"
    )
    page.locator("canvas.vv-base[data-ready='1']").first.wait_for(timeout=90_000)
    nb = NotebookPage(page, root, 0, STATE)
    nb.wait_state(
        lambda s: (
            "som" not in s["progress"]
            and s["progress"].get("table") == "ready"
            and "thumbs" not in s["progress"]
        ),
        timeout=60,
    )
    nb.stage.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    yield nb
    page.close()


def _extra(nb: NotebookPage) -> NotebookPage:
    return NotebookPage(nb.page, nb.root, 0, EXTRA_STATE)


def test_notebook7_region_labels_are_set_and_drawn(nb7x: NotebookPage) -> None:
    st = _extra(nb7x).wait_state(lambda s: bool(s["labels"]), timeout=30)
    words = {f"group{g}" for g in range(N // PER_GROUP)}
    assert {lab["text"] for lab in st["labels"]} <= words, st["labels"]
    assert all(0 <= lab["row"] < N for lab in st["labels"])
    labels = nb7x.widget.locator("canvas.vv-labels")
    nb7x.page.wait_for_function(
        "c => Number(c.dataset.labels) > 0", arg=labels.element_handle(), timeout=10_000
    )
    drawn = labels.evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )
    assert drawn > 50  # text was drawn


def test_notebook7_alt_lasso_selects_the_enclosed_cells(nb7x: NotebookPage) -> None:
    st = nb7x.state()
    cells = np.array(st["cells"])
    r0, c0 = cells.min(axis=0)
    # a triangle over the top-left corner of the occupied cells: centres with dr + dc <= 2
    want = sorted(
        i for i, (r, c) in enumerate(cells) if (r - r0) + (c - c0) <= 2 and r >= r0 and c >= c0
    )
    assert len(want) >= 3
    s, tx, ty = nb7x.view()
    nb7x.stage.scroll_into_view_if_needed()
    box = nb7x.stage.bounding_box()

    def xy(r: float, c: float) -> tuple[float, float]:
        return box["x"] + 1 + tx + (c0 + c) * s, box["y"] + 1 + ty + (r0 + r) * s

    nb7x.widget.locator(".vv-shape[data-shape='lasso']").click()
    pts = [xy(0.05, 0.05), xy(0.05, 3.4), xy(1.7, 1.7), xy(3.4, 0.05)]
    mouse = nb7x.page.mouse
    nb7x.page.keyboard.down("Alt")
    try:
        mouse.move(*pts[0])
        mouse.down()
        for p in pts[1:]:
            mouse.move(*p, steps=5)
        mouse.up()
    finally:
        nb7x.page.keyboard.up("Alt")
    nb7x.wait_state(lambda s: sorted(s["selected"]) == want)
    assert nb7x.widget.locator(".vv-selcount").text_content() == f"{len(want)} selected"


def test_notebook7_filter_from_python_counts_and_dims(nb7x: NotebookPage) -> None:
    extra = _extra(nb7x)
    st = nb7x.state()
    before = nb7x.pixels()
    nb7x.run("w.filter = {'keywords': ['group2']}")
    fx = extra.wait_state(lambda s: s["filter_count"] is not None)
    assert fx["filter"] == {"keywords": ["group2"]}
    assert fx["filter_count"] == len(fx["group2"]) == PER_GROUP
    count = nb7x.widget.locator(".vv-f-count")
    nb7x.page.wait_for_function(
        f"el => el.textContent === '{PER_GROUP} of {N} match'", arg=count.element_handle()
    )
    dim = nb7x.widget.locator("canvas.vv-filter-dim")
    nb7x.page.wait_for_function("c => c.dataset.filtered === '1'", arg=dim.element_handle())
    nb7x.stage.scroll_into_view_if_needed()
    nb7x.page.wait_for_timeout(300)
    after = nb7x.pixels()
    ARTIFACTS.mkdir(exist_ok=True)
    nb7x.widget.screenshot(path=str(ARTIFACTS / "notebook7_explore.png"))
    # the brightest image of each kind, sampled away from the cell's centre (label text) and
    # edges (selection rings)
    bright = np.array(st["colours"]).sum(axis=1)
    out = max((r for r in range(N) if r not in fx["group2"]), key=lambda r: bright[r])
    keep = max(fx["group2"], key=lambda r: bright[r])
    xy_out, xy_keep = nb7x.local_xy(out, st, 0.2, 0.8), nb7x.local_xy(keep, st, 0.2, 0.8)
    assert nb7x.pixel_at(after, xy_out).sum() < nb7x.pixel_at(before, xy_out).sum() - 60
    assert np.abs(nb7x.pixel_at(after, xy_keep) - nb7x.pixel_at(before, xy_keep)).sum() < 30
    assert not LOG.ours(), LOG.ours()
