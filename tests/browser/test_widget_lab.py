"""The widget in a real JupyterLab + kernel + Chromium: real mouse/keyboard input, then assertions
on Python-side state (read from a JSON file the kernel writes from trait observers) and on drawn
pixels. One notebook page is shared by the tests of this module, in order.

docs/screenshot.png (the README's) is rewritten only with VV_UPDATE_SCREENSHOT=1; every run writes
its screenshots to artifacts/ (git-ignored)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nbpage import (
    ARTIFACTS,
    PER_GROUP,
    REPO,
    ConsoleLog,
    N,
    NotebookPage,
    near,
    open_notebook,
    setup_code,
    write_nb,
)
from PIL import Image
from playwright.sync_api import expect

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
              colour_query=w2.colour_query, status=w2.status, total=w2.search_total,
              search_k=w2.search_k,
              version=w2._data_version, n=len(lib2), hovered=w2.hovered, cells=w2.cells.tolist(),
              names=[pathlib.Path(p).name for p in lib2.paths], banner=w2.banner,
              expected=[r for r, _ in lib2.search(q, encoders=enc, k=w2.search_k)] if q else [],
              last_scan=None if getattr(w2, "last_scan", None) is None else dict(
                  added=len(w2.last_scan.added), updated=len(w2.last_scan.updated),
                  failed=len(w2.last_scan.failed)))
    tmp = _out2.with_suffix(".tmp"); tmp.write_text(json.dumps(st)); tmp.replace(_out2)
w2.observe(_dump2, names=["query", "highlighted", "progress", "error", "_data_version", "hovered",
                          "_cells", "colour_query", "status", "search_total"])
_dump2()
w2"""

LOG = ConsoleLog()


class Lab(NotebookPage):
    second: NotebookPage


@pytest.fixture(scope="module")
def lab(lab_server: dict[str, Any], browser: Any, tiny_models_dir: Path) -> Iterator[Lab]:
    root = lab_server["root"]
    write_nb(
        root / "widget.ipynb", [setup_code(), SETUP2.format(models=str(tiny_models_dir)), "pass"]
    )
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    page.add_init_script("window.__vvDebug = true")  # root.__vv: view, zoom limits, stats
    LOG.attach(page)
    open_notebook(
        page, f"{lab_server['base']}/lab/tree/widget.ipynb?reset&token={lab_server['token']}"
    )
    page.locator("canvas.vv-base[data-ready='1']").nth(1).wait_for(timeout=90_000)
    lab = Lab(page, root)
    lab.stage.scroll_into_view_if_needed()
    # Ready: SOM done, neighbour table ready, thumbnails sent.
    lab.wait_state(
        lambda s: (
            "som" not in s["progress"]
            and s["progress"].get("table") == "ready"
            and "thumbs" not in s["progress"]
        ),
        timeout=60,
    )
    lab.second = NotebookPage(page, root, 1)
    lab.second.wait_state(
        lambda s: (
            "som" not in s["progress"]
            and "thumbs" not in s["progress"]
            and s["progress"].get("table") == "ready"
        ),
        timeout=60,
    )
    lab.stage.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # atlases decoded and drawn
    yield lab
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget_lab.png"))
    page.close()


def test_map_draws_each_thumbnail_in_its_cell(lab: Lab) -> None:
    st = lab.state()
    arr = lab.pixels()
    for row in range(N):
        got = lab.pixel_at(arr, lab.local_xy(row, st))
        assert near(got, st["colours"][row]), (row, got, st["colours"][row])


def test_zoomed_out_map_is_drawn_from_the_kernels_mosaics(lab: Lab) -> None:
    """The overview comes from a few pyramid mosaics (not one draw per image) and shows the same
    thumbnails as the per-image drawing it replaces."""
    lab.page.wait_for_function(
        "() => !document.querySelector('.vv-root').__vv.grid.mosaics.empty", timeout=30_000
    )
    st = lab.state()
    v0 = lab.view()
    shots = {}
    for mosaics in (True, False):
        lab.debug(
            f"(vv.grid.useMosaics = {str(mosaics).lower()},"
            " vv.setView({scale: 8, tx: 20, ty: 20}), vv.drawNow(), 0)"
        )
        drawn = lab.debug("({...vv.grid.lastDraw})")
        assert drawn["from"] == ("mosaics" if mosaics else "overview"), drawn
        if mosaics:
            assert drawn["images"] <= 4, drawn  # one or a few mosaics, whatever N is
        shots[mosaics] = lab.pixels()
    lab.debug(
        f"(vv.grid.useMosaics = true, vv.setView({{scale: {v0[0]}, tx: {v0[1]}, ty: {v0[2]}}}), 0)"
    )
    for row in range(N):
        x, y = lab.local_xy(row, st)
        a, b = (shots[m][int(y) - 2 : int(y) + 2, int(x) - 2 : int(x) + 2] for m in (True, False))
        assert np.abs(a.mean((0, 1)) - b.mean((0, 1))).max() < 40, row


def test_shift_hover_sets_hovered_and_lights_up_neighbours(lab: Lab) -> None:
    st = lab.state()
    row = 7
    nbrs = st["nbrs"][str(row)]
    assert nbrs, "the neighbour table is empty"
    before = lab.pixels()
    try:
        lab.shift_hover(row, st)
        after = lab.pixels()
    finally:
        lab.page.keyboard.up("Shift")
    others = [r for r in range(N) if r != row and r not in nbrs]
    dimmed = sum(
        not near(
            lab.pixel_at(after, lab.local_xy(r, st)), lab.pixel_at(before, lab.local_xy(r, st)), 30
        )
        for r in others
    )
    kept = sum(
        near(lab.pixel_at(after, lab.local_xy(r, st)), lab.pixel_at(before, lab.local_xy(r, st)), 8)
        for r in nbrs
    )
    assert dimmed == len(others), f"{dimmed}/{len(others)} non-neighbours dimmed"
    assert kept == len(nbrs), f"{kept}/{len(nbrs)} neighbours kept at full strength"
    # A ring (the theme accent) around each neighbour: the cell's edge pixels change colour.
    for r in nbrs:
        edge = lab.edge_xy(r, st)
        assert not near(lab.pixel_at(after, edge), st["colours"][r], 30), r
    lab.wait_state(lambda s: s["hovered"] is None)


def test_shift_while_typing_in_another_cell_does_not_hover(lab: Lab) -> None:
    """Pointer resting on the map, capitals typed into a notebook cell: no overlay, no sync."""
    st = lab.state()
    editor = lab.page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-InputArea-editor")
    editor.click()
    lab.page.mouse.move(*lab.cell_xy(5, st))  # focus stays in the editor
    lab.page.keyboard.down("Shift")
    try:
        lab.page.keyboard.type("TYPED")
        lab.page.mouse.move(*lab.cell_xy(5, st, 0.6, 0.6), steps=3)  # Shift held while moving
        lab.page.wait_for_timeout(400)
        assert lab.over.get_attribute("data-hovered") in (None, "")
    finally:
        lab.page.keyboard.up("Shift")
    assert lab.state()["hovered"] is None
    lab.page.keyboard.press("Escape")  # leave the editor


def test_click_and_ctrl_click_select(lab: Lab) -> None:
    st = lab.state()
    lab.stage.focus()  # the click that gives the map the focus only focuses (test_everyday)
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
    lab.stage.focus()
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
    assert not near(lab.pixel_at(after, edge), lab.pixel_at(before, edge), 30)
    # and the centre of the image is still the image
    assert near(lab.pixel_at(after, lab.local_xy(target, st)), st["colours"][target])
    lab.run("w.selected = []")
    lab.wait_state(lambda s: s["selected"] == [])


def test_zoom_is_clamped_and_one_key_press_zooms_once(lab: Lab) -> None:
    lab.stage.scroll_into_view_if_needed()
    lo, hi = lab.debug("[vv.limits().min, vv.limits().max]")
    s0 = lab.view()[0]
    assert abs(s0 - lo) < 1e-6, "the fitted map is the zoom-out limit"
    lab.stage.focus()
    lab.page.keyboard.press("+")
    lab.page.wait_for_timeout(100)
    assert abs(lab.view()[0] / s0 - 1.5) < 1e-6, lab.view()[0] / s0
    box = lab.stage.bounding_box()
    lab.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(25):
        lab.page.mouse.wheel(0, -400)
    lab.page.wait_for_timeout(200)
    dpr = lab.page.evaluate("devicePixelRatio")
    assert lab.view()[0] == pytest.approx(hi) and hi == pytest.approx(512 / dpr)
    for _ in range(40):
        lab.page.mouse.wheel(0, 400)
    lab.page.wait_for_timeout(200)
    assert lab.view()[0] == pytest.approx(lo)
    lab.page.keyboard.press("0")


def test_name_search_dims_counts_fits_and_escape_clears(lab: Lab) -> None:
    st = lab.state()
    fit_scale = lab.view()[0]
    before = lab.pixels()
    search = lab.widget.locator("input.vv-search")
    search.fill("group2")
    search.press("Enter")
    want = list(range(2 * PER_GROUP, 3 * PER_GROUP))
    st = lab.wait_state(lambda s: sorted(s["highlighted"]) == want)
    assert st["query"] == "group2"
    expect(lab.widget.locator(".vv-hits")).to_have_text(f"{PER_GROUP} hits for “group2”")
    lab.page.wait_for_timeout(200)
    s = lab.view()[0]
    assert s > fit_scale * 1.2, "the view did not zoom onto the hits"
    arr = lab.pixels()
    h, w = arr.shape[:2]
    for r in want:  # every hit in view, drawn at full strength
        x, y = lab.local_xy(r, st)
        assert 0 <= x < w and 0 <= y < h, (r, x, y)
        assert near(lab.pixel_at(arr, (x, y)), st["colours"][r], 30), r
    search.press("Enter")  # Enter again: fit to the hits (already there: stays)
    assert lab.view()[0] == pytest.approx(s)
    search.press("Escape")
    st = lab.wait_state(lambda s: s["highlighted"] == [] and s["query"] == "")
    expect(lab.widget.locator(".vv-hits")).to_have_text("")
    lab.widget.locator("button.vv-fit").click()
    assert lab.view()[0] == pytest.approx(fit_scale)
    # with hits, a non-hit is dimmed: compare against the same view without them
    lab.run("w.highlight([0, 1])")
    lab.wait_state(lambda s: s["highlighted"] == [0, 1])
    lab.page.wait_for_timeout(200)
    dimmed = lab.pixels()
    far = 30
    assert not near(
        lab.pixel_at(dimmed, lab.local_xy(far, st)), lab.pixel_at(before, lab.local_xy(far, st)), 30
    )
    assert near(lab.pixel_at(dimmed, lab.local_xy(0, st)), st["colours"][0], 30)
    lab.run("w.highlight([])")
    lab.wait_state(lambda s: s["highlighted"] == [])


def test_colour_search_fits_counts_and_escape_clears(lab: Lab) -> None:
    st = lab.state()
    fit_scale = lab.view()[0]
    target = st["colours"][14]
    hexc = "#{:02x}{:02x}{:02x}".format(*target)
    lab.widget.locator("input.vv-colour").evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('change', {bubbles: true})); }", hexc
    )
    st = lab.wait_state(lambda s: s["colour_query"] == hexc and s["highlighted"])
    assert st["highlighted"][0] == 14
    expect(lab.widget.locator(".vv-hits")).to_contain_text(f"for {hexc}")
    n = len(st["highlighted"])
    expect(lab.widget.locator(".vv-hits")).to_contain_text(f"{n} hit")
    if n < N:
        lab.page.wait_for_timeout(200)
        assert lab.view()[0] >= fit_scale
    lab.stage.focus()
    lab.page.keyboard.press("Escape")
    lab.wait_state(lambda s: s["colour_query"] == "" and s["highlighted"] == [])
    lab.page.keyboard.press("0")


def test_mode_toggle_retrains_the_layout(lab: Lab) -> None:
    old = lab.state()["cells"]
    lab.page.locator("button.vv-mode[data-mode='semantic']").first.click()
    st = lab.wait_state(
        lambda s: s["mode"] == "semantic" and "som" not in s["progress"] and s["cells"] != old
    )
    assert len({tuple(c) for c in st["cells"]}) == N  # still one image per cell
    lab.page.locator("button.vv-mode[data-mode='visual']").first.click()
    lab.wait_state(lambda s: s["mode"] == "visual" and s["cells"] == old)


def test_tooltip_survives_odd_record_fields(lab: Lab) -> None:
    """A NaN keyword score, a size and a width given as strings, a malformed palette entry."""
    row = 33
    lab.run(
        f"r = lib.records[{row}]\n"
        "r['keywords'] = [{'label': 'odd', 'score': float('nan')}, 'plain']\n"
        "r['size'] = '12345'; r['width'] = '640'; r['height'] = 480\n"
        "r['palette'] = [[200, 10, 10], 'red', [1, 2]]"
    )
    lab.page.wait_for_timeout(500)
    st = lab.state()
    lab.page.mouse.move(*lab.cell_xy(row, st, 0.4, 0.4))
    lab.page.mouse.move(*lab.cell_xy(row, st), steps=2)
    tip = lab.widget.locator(".vv-tooltip")
    expect(tip).to_be_visible(timeout=10_000)
    expect(tip.locator(".vv-tip-name")).to_have_text(Path(st["paths"][row]).name)
    expect(tip.locator(".vv-tip-keywords")).to_contain_text("odd")
    expect(tip.locator(".vv-tip-size")).to_have_text("640×480 · 12.1 KB")
    expect(tip.locator(".vv-tip-swatch")).to_have_count(1)
    lab.page.mouse.move(5, 5)


def test_tooltip_swatch_starts_a_colour_search(lab: Lab) -> None:
    two = lab.second
    st = two.state()
    row = st["names"].index("cat_chelsea.jpg")
    two.page.mouse.move(*two.cell_xy(row, st, 0.4, 0.4))
    two.page.mouse.move(*two.cell_xy(row, st), steps=2)
    swatch = two.widget.locator(".vv-tooltip .vv-tip-swatch").first
    expect(swatch).to_be_visible(timeout=10_000)
    hexc = swatch.get_attribute("data-hex")
    swatch.hover()  # the pointer travels onto the tooltip: it stays open
    swatch.click()
    st = two.wait_state(lambda s: s["colour_query"] == hexc and s["highlighted"])
    expect(two.widget.locator("input.vv-colour")).to_have_value(hexc)
    expect(two.widget.locator(".vv-hits")).to_contain_text(f"for {hexc}")
    two.widget.locator("input.vv-search").press("Escape")
    two.wait_state(lambda s: s["colour_query"] == "" and s["highlighted"] == [])
    two.widget.locator("button.vv-fit").click()


def _shown(s: dict[str, Any]) -> int:
    """How many hits a text search shows: at most ``search_k`` of the matches (SigLIP probability
    >= 0.5, the head of the ranking), or the ``search_k`` nearest when nothing matches
    (docs/widget.md, "How many match, how many are shown")."""
    return min(s["search_k"], s["total"] or s["n"])


def test_text_search_with_encoders_highlights_in_rank_order(lab: Lab) -> None:
    two = lab.second
    two.stage.scroll_into_view_if_needed()
    search = two.widget.locator("input.vv-search")
    search.fill("a photo of a cat")
    search.press("Enter")
    st = two.wait_state(
        lambda s: (
            s["query"]
            and s["total"] is not None
            and s["highlighted"]
            and s["highlighted"] == s["expected"][: _shown(s)]
        )
    )
    total, n = st["total"], _shown(st)
    assert 0 <= total <= st["n"]
    what = "“a photo of a cat”"
    if total == 0:
        text = f"no match for {what} · {n} nearest"
    elif total > n:
        text = f"{n} of {total} for {what}"
    else:
        text = f"{n} {'hit' if n == 1 else 'hits'} for {what}"
    expect(two.widget.locator(".vv-hits")).to_have_text(text)
    before = two.pixels()
    first = st["highlighted"][0]
    edge = two.edge_xy(first, st)
    search.press("Escape")
    two.wait_state(lambda s: s["highlighted"] == [])
    two.page.wait_for_timeout(200)
    after = two.pixels()
    assert not near(two.pixel_at(before, edge), two.pixel_at(after, edge), 30)
    two.widget.locator("button.vv-fit").click()


def test_readme_screenshot_with_shift_hover(lab: Lab) -> None:
    """The sample photos on the map, mid Shift+Hover on the cat: artifacts/screenshot.png on every
    run; docs/screenshot.png (the README's) only with VV_UPDATE_SCREENSHOT=1."""
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
    try:
        two.shift_hover(row, st)
        two.page.wait_for_timeout(200)
        shot = two.widget.screenshot()
    finally:
        two.page.keyboard.up("Shift")
    img = Image.open(io.BytesIO(shot))
    assert img.width > 600 and img.height > 500
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "screenshot.png").write_bytes(shot)
    if os.environ.get("VV_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        (REPO / "docs" / "screenshot.png").write_bytes(shot)


RESCAN_PROBE = """\
import hashlib, os, vectorvision_widget.widget.mapdata as _md
lib2.save("lib2.json")
os.utime("lib2.json", (1600000000, 1600000000))
_redone = []
_train, _table = _md.train_layout, _md.neighbours
_md.train_layout = lambda *a, **k: _redone.append("som") or _train(*a, **k)
_md.neighbours = lambda *a, **k: _redone.append("table") or _table(*a, **k)
_atlases = []
_push = w2._host.push_atlas
w2._host.push_atlas = lambda *a: _atlases.append(1) or _push(*a)
def _probe(_=None):
  st = dict(redone=_redone, atlases=len(_atlases), mtime=os.stat("lib2.json").st_mtime,
            sha=hashlib.sha256(pathlib.Path("lib2.json").read_bytes()).hexdigest())
  pathlib.Path("probe.tmp").write_text(json.dumps(st)); os.replace("probe.tmp", "probe.json")
_probe()
w2.observe(_probe, names=["status"])"""


def test_rescan_button_is_incremental_and_shift_click_forces(lab: Lab) -> None:
    """⟳ with nothing changed changes nothing: the zoom stays, no SOM retrain, no neighbour
    table, no thumbnail resent, the library file keeps its bytes and mtime (issue 19, item 12).
    Shift+click re-embeds everything."""
    two = lab.second
    lab.run(RESCAN_PROBE)
    probe = lab.root / "probe.json"
    wait = two.page.wait_for_timeout
    for _ in range(300):
        if probe.exists():
            break
        wait(100)
    before = json.loads(probe.read_text())
    st0 = two.state()
    two.stage.scroll_into_view_if_needed()
    two.stage.focus()
    two.page.keyboard.press("+")
    wait(200)
    view0 = two.view()
    button = two.widget.locator("button.vv-rescan")
    expect(button).to_be_enabled()
    assert not lab.widget.locator("button.vv-rescan").is_enabled()  # no encoders: disabled
    button.click()
    st = two.wait_state(
        lambda s: s["last_scan"] is not None and "scan" not in s["progress"], timeout=90
    )
    assert st["last_scan"] == {"added": 0, "updated": 0, "failed": 0}  # nothing changed
    expect(two.widget.locator(".vv-status")).to_contain_text("rescan: nothing changed")
    wait(1000)  # anything the rescan would have started has shown by now
    st = two.state()
    assert st["version"] == st0["version"] and st["cells"] == st0["cells"]
    assert "som" not in st["progress"] and "thumbs" not in st["progress"]
    assert two.view() == view0, "the zoom and pan are kept"
    after = json.loads(probe.read_text())
    assert after["redone"] == [] and after["atlases"] == 0, after
    assert (after["mtime"], after["sha"]) == (before["mtime"], before["sha"]), "file untouched"
    two.stage.focus()
    two.page.keyboard.press("0")
    v1 = two.state()["version"]
    dialogs: list[str] = []
    two.page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    button.click(modifiers=["Shift"])
    st = two.wait_state(
        lambda s: (
            s["version"] > v1
            and "scan" not in s["progress"]
            and s["last_scan"]["updated"] == s["n"]
        ),
        timeout=90,
    )
    assert dialogs and "re-embedded" in dialogs[0]
    assert st["last_scan"]["failed"] == 0
    two.wait_state(lambda s: "som" not in s["progress"] and "thumbs" not in s["progress"])


ADD_TWO = """\
from PIL import Image as _Image, ImageOps as _ImageOps
_saves = []
_save = lib2.save
def _counted_save(*a, **k):
  _saves.append(1)
  return _save(*a, **k)
lib2.save = _counted_save
_mark = (len(_redone), len(_atlases))
_old_cells = dict(zip(lib2.paths, w2.cells.tolist()))
for _i, _src in enumerate(sorted(photos.glob("*.jpg"))[:2]):
  _ImageOps.mirror(_Image.open(_src).convert("RGB")).save(photos / f"added_{_i}.jpg")
def _probe_add(_=None):
  st = dict(saves=len(_saves), redone=_redone[_mark[0]:], atlases=len(_atlases) - _mark[1],
            kept=all(_old_cells[p] == c for p, c in zip(lib2.paths, w2.cells.tolist())
                     if p in _old_cells),
            added=[pathlib.Path(p).name for p in lib2.paths if p not in _old_cells],
            placed=len(w2.cells) == len(lib2))
  pathlib.Path("add.tmp").write_text(json.dumps(st)); os.replace("add.tmp", "add.json")
w2.observe(_probe_add, names=["status", "_cells", "progress"])"""


def test_rescan_that_finds_two_new_images_updates_only_those_rows(lab: Lab) -> None:
    """Two images added to the folder, then ⟳: the view keeps its zoom and pan (same data
    version), both appear in w.library and on the map, placed into the map on screen (no
    retrain, every old image keeps its cell, no whole neighbour table), one atlas sent, the
    library file saved once (issue 19, item 12)."""
    two = lab.second
    wait = two.page.wait_for_timeout
    st0 = two.wait_state(lambda s: "som" not in s["progress"] and "thumbs" not in s["progress"])
    lab.run(ADD_TWO)
    probe = lab.root / "add.json"
    for _ in range(300):
        if probe.exists():
            break
        wait(100)
    two.stage.scroll_into_view_if_needed()
    two.stage.focus()
    two.page.keyboard.press("+")
    wait(300)
    view0 = two.view()
    two.widget.locator("button.vv-rescan").click()
    st = two.wait_state(
        lambda s: (
            s["last_scan"] == {"added": 2, "updated": 0, "failed": 0}
            and s["n"] == st0["n"] + 2
            and "scan" not in s["progress"]
        ),
        timeout=90,
    )
    two.wait_state(
        lambda s: (
            not ({"som", "thumbs"} & set(s["progress"]))
            and s["progress"].get("table") in (None, "ready")
        )
    )
    wait(500)
    st = two.state()
    assert st["version"] == st0["version"], "same data version: the browser keeps its atlases"
    assert two.view() == view0, "the zoom and pan are kept"
    assert {"added_0.jpg", "added_1.jpg"} <= set(st["names"])
    assert len(st["cells"]) == st["n"]
    after = json.loads(probe.read_text())
    assert after["added"] == ["added_0.jpg", "added_1.jpg"] and after["placed"], after
    assert after["kept"], "every old image keeps its cell"
    assert after["redone"] == [], "no SOM retrain, no whole neighbour table"
    assert after["atlases"] == 1 and after["saves"] == 1, after
    expect(two.widget.locator(".vv-status")).to_contain_text("2 added")


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


def test_inside_hbox_and_tab_and_two_views_in_sync(lab: Lab) -> None:
    """ipywidgets containers: a Layout width inside an HBox, a second tab shown later, and one
    widget displayed twice (both views follow one model)."""
    lab.run(
        "import ipywidgets as widgets\nfrom IPython.display import display\n"
        "w4 = vv.VectorVision(lib, height=220, layout=widgets.Layout(width='60%'))\n"
        "w5 = vv.VectorVision(lib, height=200)\n"
        "tab = widgets.Tab([widgets.Label('first tab'), w5])\n"
        "_out4 = pathlib.Path('kernel_state4.json')\n"
        "def _dump4(_=None):\n"
        "  with _dump_lock:\n"
        "    _out4.write_text(json.dumps(dict(hovered=w4.hovered, cells=w4.cells.tolist(),"
        " progress=w4.progress, selected=w4.selected)))\n"
        "w4.observe(_dump4, names=['hovered', '_cells', 'progress', 'selected'])\n_dump4()\n"
        "display(widgets.HBox([w4, widgets.Label('beside')]))\n"
        "display(w4)\ndisplay(tab)"
    )
    out = lab.page.locator(".jp-Notebook .jp-Cell").last
    views = out.locator(".vv-root")  # in display order: the HBox's, the direct one, the tab's
    expect(views.nth(1)).to_be_attached(timeout=30_000)
    in_box = out.locator(".widget-hbox .vv-root")
    expect(in_box.locator("canvas.vv-base[data-ready='1']")).to_have_count(1, timeout=60_000)
    box_w = out.locator(".widget-hbox").bounding_box()["width"]
    assert 0.5 < in_box.bounding_box()["width"] / box_w < 0.7
    # the two views of w4: Shift+Hover and selection in one show in the other
    a = NotebookPage.of(lab.page, lab.root, in_box, "kernel_state4.json")
    b = NotebookPage.of(lab.page, lab.root, views.nth(1), "kernel_state4.json")
    st = a.wait_state(lambda s: len(s["cells"]) == N and "som" not in s["progress"])
    lab.page.wait_for_timeout(300)
    try:
        a.shift_hover(4, st)
        expect(b.over).to_have_attribute("data-hovered", "4")
    finally:
        lab.page.keyboard.up("Shift")
    a.wait_state(lambda s: s["hovered"] is None)
    expect(b.over).to_have_attribute("data-hovered", "")
    b.stage.scroll_into_view_if_needed()
    before = b.pixels()
    a.stage.focus()
    lab.page.mouse.click(*a.cell_xy(9, st))
    a.wait_state(lambda s: s["selected"] == [9])
    lab.page.wait_for_timeout(200)
    edge = b.edge_xy(9, st)
    assert not near(b.pixel_at(b.pixels(), edge), b.pixel_at(before, edge), 30)
    # the second tab: rendered when shown, with a fitted map (not a 0-px stage)
    out.locator(".lm-TabBar-tab").nth(1).click()
    tab_base = out.locator(".widget-tab .vv-root canvas.vv-base[data-ready='1']")
    expect(tab_base).to_have_count(1, timeout=60_000)
    lab.page.wait_for_timeout(300)
    s, tx, ty = (float(v) for v in tab_base.get_attribute("data-view").split(","))
    assert s > 5 and tx >= 0 and ty >= 0, (s, tx, ty)


def test_no_page_errors(lab: Lab) -> None:
    assert [e for e in LOG.entries if e["kind"] == "pageerror"] == []
    assert LOG.ours() == []
