"""The widget in a real marimo notebook (`mo.ui.anywidget(w)`, `marimo run`) in Chromium: it
renders its thumbnails, Shift+Hover reaches the Python widget (`w.hovered`), a Ctrl-click comes
back as `w.selected`, and in marimo's dark theme the map is drawn dark. Python-side state is read
from a JSON file that trait observers in the marimo kernel write."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO, _free_port, end_tree
from nbpage import ARTIFACTS, ConsoleLog, NotebookPage, css_rgb, luminance

NOTEBOOK = """\
# /// script
# [tool.marimo.display]
# theme = "{theme}"
# ///
import marimo

app = marimo.App()


@app.cell
def _():
    import json
    import pathlib
    import shutil

    import marimo as mo

    import vectorvision_widget as vv
    from vectorvision_widget.sample import sample_folder

    _root = pathlib.Path({root!r})
    _photos = _root / "photos"
    if not _photos.exists():
        shutil.copytree(sample_folder(), _photos, ignore=shutil.ignore_patterns("NOTICE"))
    enc = vv.Encoders.load({models!r})
    lib = vv.Library()
    vv.scan(_photos, lib, encoders=enc, progress=False)
    w = vv.VectorVision(lib, encoders=enc, height=480)
    _out = _root / "state.json"

    def _dump(_=None):
        st = dict(hovered=w.hovered, selected=w.selected, cells=w.cells.tolist(),
                  progress=w.progress, n=len(lib))
        tmp = _out.with_suffix(".tmp")
        tmp.write_text(json.dumps(st))
        tmp.replace(_out)

    w.observe(_dump, names=["hovered", "selected", "_cells", "progress"])
    _dump()
    view = mo.ui.anywidget(w)
    return (view,)


@app.cell
def _(view):
    view
    return


if __name__ == "__main__":
    app.run()
"""

LOG = ConsoleLog()
ALL_TILES = (
    "vv.grid.n > 0 && vv.grid.atlases.filter(Boolean).length * vv.grid.perAtlas >= vv.grid.n"
)


def rgb_of(view: NotebookPage, colour: str) -> list[int]:
    """Any CSS colour as the browser paints it: [r, g, b, a]."""
    return list(
        view.page.evaluate(
            "c => { const x = document.createElement('canvas').getContext('2d'); x.fillStyle = c;"
            " x.fillRect(0, 0, 1, 1); return [...x.getImageData(0, 0, 1, 1).data]; }",
            colour,
        )
    )


@pytest.fixture(scope="module", params=["light", "dark"])
def marimo_page(
    request: pytest.FixtureRequest,
    browser: Any,
    tiny_models_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[NotebookPage]:
    root = tmp_path_factory.mktemp("marimo")
    nb = root / "vv_marimo.py"
    nb.write_text(NOTEBOOK.format(root=str(root), models=str(tiny_models_dir), theme=request.param))
    port = _free_port()
    env = dict(
        os.environ,
        MARIMO_SKIP_UPDATE_CHECK="1",
        HOME=str(root),  # marimo's user config and caches stay in the temp folder
        XDG_CONFIG_HOME=str(root / ".config"),
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    cmd = [sys.executable, "-m", "marimo", "run", str(nb), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--headless", "--no-token", "--no-sandbox"]
    log = open(root / "marimo.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError("marimo died:\n" + (root / "marimo.log").read_text())
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("marimo did not start in 60 s")
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.add_init_script("window.__vvDebug = true")
        LOG.attach(page)
        page.goto(base)
        view = NotebookPage(page, root, state="state.json")
        started = time.monotonic()
        try:
            view.widget.wait_for(timeout=120_000)
        except Exception as err:
            # say which side stalled: the kernel (no state yet: still importing or scanning, or
            # the cell failed) or the front end (state written, the view never rendered)
            state = root / "state.json"
            kernel = state.read_text()[:300] if state.exists() else "no state written"
            log_text = (root / "marimo.log").read_text()[-3000:]
            raise AssertionError(
                f"the widget never showed in marimo after {time.monotonic() - started:.0f} s;"
                f"\nkernel state: {kernel}\npage errors: {LOG.texts()[-10:]}"
                f"\nmarimo's log:\n{log_text}"
            ) from err
        yield view
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"marimo_{request.param}.png"))
        page.close()
    finally:
        end_tree(proc)
        log.close()
    assert LOG.ours() == [], LOG.ours()


def _settled(view: NotebookPage) -> dict[str, Any]:
    """Kernel state once the layout, table and thumbnails are done and drawn."""
    st = view.wait_state(
        lambda s: s["n"] > 0 and s["progress"] in ({}, {"table": "ready"}), timeout=60
    )
    for _ in range(300):  # the root may sit in marimo's shadow DOM: the locator pierces it
        if view.debug(ALL_TILES):
            break
        view.page.wait_for_timeout(100)
    else:
        raise AssertionError("the thumbnails never arrived")
    view.page.wait_for_timeout(300)
    return st


def test_marimo_renders_the_thumbnails(marimo_page: NotebookPage) -> None:
    view = marimo_page
    st = _settled(view)
    assert view.debug("vv.grid.n") == st["n"]
    px = view.pixels()
    bg = np.array(rgb_of(view, view.debug("vv.store.get().theme.bg"))[:3], np.int16)  # empty canvas
    for row in range(st["n"]):  # each cell shows an image, not the background
        (x0, y0), (x1, y1) = view.local_xy(row, st, 0.2, 0.2), view.local_xy(row, st, 0.8, 0.8)
        patch = px[int(y0) : int(y1), int(x0) : int(x1)]
        assert patch.size and np.abs(patch - bg).mean() > 15, row


def test_marimo_shift_hover_reaches_python(marimo_page: NotebookPage) -> None:
    view = marimo_page
    st = _settled(view)
    view.stage.click(position={"x": 2, "y": 2})  # the map takes the keyboard focus
    row = 4
    view.shift_hover(row, st)
    view.page.keyboard.up("Shift")
    view.wait_state(lambda s: s["hovered"] is None)


def test_marimo_ctrl_click_selects_in_python(marimo_page: NotebookPage) -> None:
    view = marimo_page
    st = _settled(view)
    row = 2
    view.page.keyboard.down("Control")
    view.page.mouse.click(*view.cell_xy(row, st))
    view.page.keyboard.up("Control")
    view.wait_state(lambda s: s["selected"] == [row], timeout=15)


def test_marimo_theme_colours_the_map(marimo_page: NotebookPage) -> None:
    view = marimo_page
    _settled(view)
    bg = view.debug("vv.store.get().theme.bg")
    rgb = rgb_of(view, bg)[:3]
    dark = view.page.evaluate("() => document.body.classList.contains('dark-theme')")
    assert (luminance(rgb) < 0.2) == dark, (bg, dark)
    toolbar = view.widget.evaluate("el => getComputedStyle(el).backgroundColor")
    assert (luminance(css_rgb(toolbar)) < 0.2) == dark, (toolbar, dark)
