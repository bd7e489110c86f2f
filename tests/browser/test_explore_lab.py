"""Finding tools in a real JupyterLab + kernel + Chromium: region labels are drawn, the filter bar
dims what does not match and follows `w.filter` set from Python, and an image file dropped on the
map highlights the images most like it (assertions on kernel state and on drawn pixels)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nbpage import ARTIFACTS, REPO, ConsoleLog, NotebookPage, open_notebook, write_nb

SETUP = """\
import json, pathlib, sys, threading
sys.path.insert(0, {repo!r})
import numpy as np
import vectorvision_widget as vv
from PIL import Image
folder = pathlib.Path("pics")
rng = np.random.default_rng(0)
for i in range(24):
    sub = folder / ("a" if i < 12 else "b"); sub.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(sub / f"p{{i:02d}}.png")
enc = vv.Encoders.load({models!r})
lib = vv.Library()
vv.scan(folder, lib, encoders=enc, progress=False)
lib.update_fields({{r: dict(camera="Canon A" if r % 2 else "Nikon B",
                           keywords=[dict(label="sea" if r < 12 else "hill", score=0.5)])
                   for r in range(len(lib))}})
drop_bytes = (folder / "b" / "p20.png").read_bytes()
w = vv.VectorVision(lib, encoders=enc, height=420, search_k=5)
_out = pathlib.Path("explore_state.json")
_lock = threading.Lock()
def _dump(_=None):
  with _lock:
    st = dict(labels=w.labels, filter=w.filter, filter_count=w.filter_count,
              highlighted=w.highlighted, error=w.error, progress=w.progress, cells=w.cells.tolist(),
              camera_a=lib.where(camera="Canon A"), folder_a=lib.where(folder=str(folder / "a")),
              expected_drop=[r for r, _ in lib.similar_to_image(drop_bytes, encoders=enc, k=5)])
    tmp = _out.with_suffix(".tmp"); tmp.write_text(json.dumps(st)); tmp.replace(_out)
w.observe(_dump, names=["labels", "filter", "filter_count", "highlighted", "error", "progress",
                        "_cells"])
_dump()
w"""

SAMPLE = """\
import shutil, re
from vectorvision_widget.sample import sample_folder
photos = pathlib.Path("photos")
if not photos.exists():
    shutil.copytree(sample_folder(), photos, ignore=shutil.ignore_patterns("NOTICE"))
lib2 = vv.Library()
vv.scan(photos, lib2, encoders=enc, progress=False)
# The tiny test models give meaningless keywords: use the words of each file name instead.
lib2.update_fields({{r: dict(keywords=[dict(label=word, score=0.5)
                                        for word in re.split(r"[_.]", pathlib.Path(p).stem)])
                    for r, p in enumerate(lib2.paths)}})
fav = re.compile("cat|mountain|sunset|river|dogs|bird")
lib2.tag([p for p in lib2.paths if fav.search(p)], "favourites")
w2 = vv.VectorVision(lib2, encoders=enc, height=520)
w2.filter = {{"tags": ["favourites"]}}
_out2 = pathlib.Path("explore_state2.json")
def _dump2(_=None):
  with _lock:
    st = dict(labels=w2.labels, progress=w2.progress, filter_count=w2.filter_count, n=len(lib2))
    tmp = _out2.with_suffix(".tmp"); tmp.write_text(json.dumps(st)); tmp.replace(_out2)
w2.observe(_dump2, names=["labels", "progress", "filter_count"])
_dump2()
w2"""

LOG = ConsoleLog()


@pytest.fixture(scope="module")
def page_(
    lab_server: dict[str, Any], browser: Any, tiny_models_dir: Path
) -> Iterator[NotebookPage]:
    root = lab_server["root"]
    setup = SETUP.format(repo=str(REPO), models=str(tiny_models_dir))
    both = setup.removesuffix("w") + "display(w)\n" + SAMPLE.format()  # w, then w2 below it
    write_nb(root / "explore.ipynb", [both, "pass"])
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    LOG.attach(page)
    open_notebook(
        page, f"{lab_server['base']}/lab/tree/explore.ipynb?reset&token={lab_server['token']}"
    )
    page.locator("canvas.vv-base[data-ready='1']").first.wait_for(timeout=90_000)
    nb = NotebookPage(page, root, 0, "explore_state.json")
    nb.wait_state(
        lambda s: "som" not in s["progress"] and "thumbs" not in s["progress"] and s["labels"], 90
    )
    nb.stage.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    yield nb
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explore_lab.png"))
    page.close()


def _alpha_pixels(nb: NotebookPage, selector: str) -> int:
    return int(
        nb.widget.locator(selector).evaluate(
            "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
        )
    )


def test_labels_are_computed_and_drawn(page_: NotebookPage) -> None:
    st = page_.state()
    assert {lab["text"] for lab in st["labels"]} <= {"sea", "hill"}
    labels = page_.widget.locator("canvas.vv-labels")
    page_.page.wait_for_function("c => Number(c.dataset.labels) > 0", arg=labels.element_handle())
    assert _alpha_pixels(page_, "canvas.vv-labels") > 50  # text was drawn


def test_filter_bar_dims_non_matches_and_follows_python(page_: NotebookPage) -> None:
    assert _alpha_pixels(page_, "canvas.vv-filter-dim") == 0
    before = page_.pixels()
    page_.widget.locator("select.vv-f-camera").select_option("Canon A")
    st = page_.wait_state(lambda s: s["filter"] == {"camera": ["Canon A"]})
    st = page_.wait_state(lambda s: s["filter_count"] == len(s["camera_a"]))
    count = page_.widget.locator(".vv-f-count")
    assert count.text_content() == f"{len(st['camera_a'])} of 24 match"
    page_.page.wait_for_timeout(300)
    after = page_.pixels()
    out = next(r for r in range(24) if r not in st["camera_a"])
    keep = st["camera_a"][0]
    xy_out, xy_keep = page_.local_xy(out, st), page_.local_xy(keep, st)
    assert page_.pixel_at(after, xy_out).sum() < page_.pixel_at(before, xy_out).sum() - 60
    assert np.abs(page_.pixel_at(after, xy_keep) - page_.pixel_at(before, xy_keep)).sum() < 30
    page_.run("w.filter = {'folder': str(folder / 'a')}")
    st = page_.wait_state(lambda s: s["filter_count"] == len(s["folder_a"]) == 12)
    page_.page.wait_for_function(
        "el => el.textContent === '12 of 24 match'", arg=count.element_handle()
    )
    assert page_.widget.locator("select.vv-f-folder").input_value().endswith("/pics/a")
    page_.widget.locator("button.vv-f-clear").click()
    page_.wait_state(lambda s: s["filter"] == {} and s["filter_count"] is None)


def test_dropping_an_image_file_highlights_the_most_similar(page_: NotebookPage) -> None:
    data = (page_.root / "pics" / "b" / "p20.png").read_bytes()
    page_.stage.evaluate(
        """(stage, b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], "query.png", { type: "image/png" }));
          const r = stage.getBoundingClientRect();
          const at = { bubbles: true, cancelable: true, dataTransfer: dt,
                       clientX: r.x + r.width / 2, clientY: r.y + r.height / 2 };
          stage.dispatchEvent(new DragEvent("dragover", at));
          stage.dispatchEvent(new DragEvent("drop", at));
        }""",
        base64.b64encode(data).decode(),
    )
    st = page_.wait_state(lambda s: s["highlighted"] and s["highlighted"] == s["expected_drop"])
    assert st["error"] == ""
    hits = page_.widget.locator(".vv-hits")
    page_.page.wait_for_function(
        "el => el.textContent === '5 most like image query.png'", arg=hits.element_handle()
    )
    assert not LOG.ours(), LOG.texts()


def test_screenshot_of_labels_and_a_filter_on_the_sample(page_: NotebookPage) -> None:
    """The sample photos with region labels and a tag filter: artifacts/explore_screenshot.png on
    every run; docs/screenshot.png (the README's) only with VV_UPDATE_SCREENSHOT=explore."""
    page = page_.page
    two = NotebookPage(page, page_.root, 1, "explore_state2.json")
    st = two.wait_state(
        lambda s: "som" not in s["progress"] and "thumbs" not in s["progress"] and s["labels"], 90
    )
    assert st["filter_count"] == 8
    count = two.widget.locator(".vv-f-count")
    page_.page.wait_for_function(
        f"el => el.textContent === '8 of {st['n']} match'", arg=count.element_handle()
    )
    two.widget.scroll_into_view_if_needed()
    labels = two.widget.locator("canvas.vv-labels")
    page.wait_for_function("c => Number(c.dataset.labels) > 0", arg=labels.element_handle())
    page.wait_for_timeout(800)  # thumbnails decoded and drawn
    shot = two.widget.screenshot()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "explore_screenshot.png").write_bytes(shot)
    if os.environ.get("VV_UPDATE_SCREENSHOT") == "explore":
        (REPO / "docs" / "screenshot.png").write_bytes(shot)
