"""The VectorVision map in a marimo notebook: `marimo edit docs/marimo_demo.py` (or `marimo run`).

Scans the bundled sample photos with the default models (`vectorvision fetch-models` first) and
shows the map; the cell below it reacts to Shift+Hover and to the selection."""

import marimo

__generated_with = "0.25.2"
app = marimo.App()


@app.cell
def _():
    import marimo as mo

    import vectorvision_widget as vv
    from vectorvision_widget.sample import sample_folder

    enc = vv.Encoders.load()
    lib = vv.Library()
    vv.scan(sample_folder(), lib, encoders=enc)
    w = vv.VectorVision(lib, encoders=enc)
    view = mo.ui.anywidget(w)
    mo.output.replace(view)  # the map is this cell's output
    return mo, view, w


@app.cell
def _(mo, view, w):
    _changed = view.value  # naming `view` re-runs this cell when the map's traits change
    mo.output.replace(mo.md(f"hovered row: **{w.hovered}** · selected: **{len(w.selected)}**"))
    return


@app.cell
def _(w):
    # a map you can share: one HTML file that works with no kernel
    w.save_html("sample_map.html")
    return


if __name__ == "__main__":
    app.run()
