"""The widget in Jupyter Notebook 7 (served by the same Jupyter server as the JupyterLab tests):
it renders, Shift+Hover reaches the kernel, it stays legible in the dark theme, and it adds no
console error of its own. Screenshots go to artifacts/ (git-ignored).

About `Cannot read properties of undefined (reading 'schema')`: Notebook 7.6.5 throws it (an
uncaught TypeError from its own bundle, static/notebook/notebook_core.*.js, while loading settings)
on a notebook that only prints, with no widget at all, so it is not ours. The test opens such a
plain notebook first and asserts that the widget's page logs nothing beyond what that page logs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from nbpage import (
    ARTIFACTS,
    ConsoleLog,
    N,
    NotebookPage,
    contrast,
    css_rgb,
    luminance,
    near,
    open_notebook,
    set_theme,
    setup_code,
    write_nb,
)

STATE = "kernel_state_nb7.json"


@pytest.fixture(scope="module")
def nb7(lab_server: dict[str, Any], browser: Any) -> Iterator[dict[str, Any]]:
    try:
        import notebook  # a test extra
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("Notebook 7 is missing: pip install -e '.[test]' (notebook>=7)")
        pytest.skip("Notebook 7 is not installed (pip install 'notebook>=7')")
    assert int(notebook.__version__.split(".")[0]) >= 7, notebook.__version__
    root, base, token = lab_server["root"], lab_server["base"], lab_server["token"]
    write_nb(root / "nb7_plain.ipynb", ["print('plain')"])
    write_nb(root / "nb7_widget.ipynb", [setup_code(STATE), "pass"])
    plain_log, widget_log = ConsoleLog(), ConsoleLog()
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.add_init_script("window.__vvDebug = true")
    widget_log.attach(page)
    open_notebook(page, f"{base}/notebooks/nb7_widget.ipynb?token={token}")
    # while the widget's notebook runs: the same Notebook 7 page for a notebook without widgets
    plain = browser.new_page(viewport={"width": 1200, "height": 900})
    plain_log.attach(plain)
    open_notebook(plain, f"{base}/notebooks/nb7_plain.ipynb?token={token}")
    plain.locator(".jp-OutputArea-output", has_text="plain").wait_for(timeout=60_000)
    plain.wait_for_timeout(300)
    plain.close()
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
    page.wait_for_timeout(300)
    yield {"nb": nb, "plain": plain_log, "widget": widget_log}
    page.close()


def test_notebook7_renders_and_shift_hover_sets_hovered(nb7: dict[str, Any]) -> None:
    nb: NotebookPage = nb7["nb"]
    st = nb.state()
    assert len(st["cells"]) == N
    row = 9
    try:
        nb.shift_hover(row, st)
        assert nb.over.get_attribute("data-hovered") == str(row)
    finally:
        nb.page.keyboard.up("Shift")
    nb.wait_state(lambda s: s["hovered"] is None)
    ARTIFACTS.mkdir(exist_ok=True)
    nb.widget.screenshot(path=str(ARTIFACTS / "notebook7_light.png"))


def test_notebook7_dark_theme_is_legible(nb7: dict[str, Any]) -> None:
    nb: NotebookPage = nb7["nb"]
    page = nb.page
    set_theme(page, "JupyterLab Dark")
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        nb.widget.screenshot(path=str(ARTIFACTS / "notebook7_dark.png"))
        colours = nb.widget.evaluate(
            "el => { const c = (e) => getComputedStyle(e);"
            " return {bg: c(el).backgroundColor, fg: c(el).color,"
            " status: c(el.querySelector('.vv-status')).color,"
            " button: c(el.querySelector('.vv-fit')).color,"
            " buttonBg: c(el.querySelector('.vv-fit')).backgroundColor}; }"
        )
        bg, fg = css_rgb(colours["bg"]), css_rgb(colours["fg"])
        assert luminance(bg) < 0.1, f"widget background not dark: {colours}"
        assert contrast(fg, bg) >= 7, colours
        assert contrast(css_rgb(colours["status"]), bg) >= 3, colours
        assert contrast(css_rgb(colours["button"]), css_rgb(colours["buttonBg"])) >= 4.5, colours
        # the canvas follows the theme too: the margin around the map is dark, edge to edge
        arr = nb.pixels()
        assert luminance(arr[4, 4]) < 0.1, arr[4, 4]
        assert near(arr[4, 4], arr[4, -6], 6), (arr[4, 4], arr[4, -6])
    finally:
        set_theme(page, "JupyterLab Light")
    assert luminance(nb.pixels()[4, 4]) > 0.5


def test_notebook7_console_errors_are_not_ours(nb7: dict[str, Any]) -> None:
    plain: ConsoleLog = nb7["plain"]
    widget: ConsoleLog = nb7["widget"]
    # Notebook's own error (if this Notebook version still logs it) comes from its bundle
    for e in plain.entries + widget.entries:
        if "reading 'schema'" in e["text"]:
            assert "static/notebook/" in e.get("stack", "") + e["url"], e
    new = [e for e in widget.entries if e["text"] not in plain.texts()]
    assert widget.ours() == [], widget.ours()
    assert new == [], f"errors only with the widget: {new}\nplain page: {plain.entries}"
    print("Notebook 7 console errors, plain page:", plain.entries, "widget page:", widget.entries)
