"""Overview benchmark in headless Chromium: the first full frame of the zoomed-out map.

The same synthetic library as bench_widget.py (generated thumbnails packed by the real atlas
code) is shown twice in one run, in a page with a fake anywidget model:
  ours      the kernel's tile pyramid (thumbs/pyramid.py, built here from the same atlases, as
            the widget does) arrives first: the frame is drawn from the few mosaics covering the
            view at the level the fitted view needs
  baseline  today's drawing without mosaics: every atlas tile drawn into the overview canvas
            (one drawImage per image; above 300k images that overview is one colour per cell)
Each time runs from "all data in the page" to the end of the first frame showing every image.
The kernel-side pyramid build (decode atlases, compose, downsample, JPEG) is timed too.

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_overview.py \
       [--sizes 10000 100000 1000000]      (needs `npm run build` first)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vectorvision_widget.thumbs.pyramid import atlas_tiles, build_pyramid
from vectorvision_widget.thumbs.tiles import Atlas
from vectorvision_widget.widget.overview import mosaics_replies

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, also under runpy
from bench_widget import BUNDLE, CHROMIUM, CSS, PAGE, _serve, build_payload
from benchutil import blas_kernel

# bench_widget's page, with the pyramid sent first on hello when the URL asks for it
HELLO = """if (msg.type === "hello")
      setTimeout(() => atlases.forEach("""
HELLO_MOSAICS = """if (msg.type === "hello" && useMosaics)
      setTimeout(() => mosaics.forEach(([h, bufs]) => listeners["msg:custom"]?.forEach(
        (f) => f({{...h, version: state._data_version}}, bufs))));
    if (msg.type === "hello")
      setTimeout(() => atlases.forEach("""
LOAD = "const listeners = {{}};"
LOAD_MOSAICS = """const useMosaics = location.search.includes("mosaics=1");
const mosaics = [];
if (useMosaics) for (const m of meta.mosaics) {{
  const bufs = [];
  for (let i = 0; i < m.head.cols * m.head.rows; i++)
    bufs.push(await bin(`m${{m.head.level}}_${{i}}.jpg`));
  mosaics.push([m.head, bufs]);
}}
const listeners = {{}};"""
WATCH = "window.benchReady = true;"
# the first frame drawn from mosaics at the level the fitted view needs
WATCH_FULL = """const fullFrame = () => {{
  const g = window.vv.grid, px = window.vv.view.scale * devicePixelRatio;
  const cells = meta.mosaics.map((m) => m.head.cell);
  const want = cells.reduce((b, c, i) => (c >= px && (b < 0 || c < cells[b]) ? i : b), -1);
  const level = want < 0 ? 0 : meta.mosaics[want].head.level;
  const at = window.vv.stats.firstMosaicFrame;  // set by the painter right after that frame
  if (at !== null && g.lastDraw.level === level) window.tMosaicFull = at;
  else requestAnimationFrame(fullFrame);
}};
if (useMosaics) requestAnimationFrame(fullFrame);
window.benchReady = true;"""


def page_html() -> str:
    html = PAGE
    for old, new in ((HELLO, HELLO_MOSAICS), (LOAD, LOAD_MOSAICS), (WATCH, WATCH_FULL)):
        assert html.count(old) == 1, f"bench_widget.PAGE changed: {old!r}"
        html = html.replace(old, new)
    return html.format(css=CSS.read_text())


def add_pyramid(folder: Path, repeats: int) -> dict[str, Any]:
    """Build the pyramid from the payload's atlases (as the widget's job does) and write its
    mosaics beside them; returns the build time (median of ``repeats``) and bytes."""
    meta = json.loads((folder / "meta.json").read_text())
    atlases = [
        Atlas(
            a["index"],
            a["first"],
            a["count"],
            a["tile"],
            a["cols"],
            (folder / f"atlas{a['index']}.jpg").read_bytes(),
        )
        for a in meta["atlases"]
    ]
    cells = np.frombuffer(
        (folder / "_cells.bin").read_bytes(), dtype=meta["arrays"]["_cells"]["dtype"]
    )
    cells = cells.reshape(-1, 2).astype(np.int32)
    grid = tuple(meta["state"]["_grid"])
    times, pyramid = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        tiles = np.concatenate([atlas_tiles(a) for a in atlases])
        pyramid = build_pyramid(tiles, cells, (grid[0], grid[1]))
        times.append(time.perf_counter() - t0)
    assert pyramid is not None
    heads = []
    for head, bufs in mosaics_replies(pyramid, 1, 1):
        for i, jpeg in enumerate(bufs):
            (folder / f"m{head['level']}_{i}.jpg").write_bytes(jpeg)
        heads.append({"head": head})
    meta["mosaics"] = heads
    (folder / "meta.json").write_text(json.dumps(meta))
    return {"build_s": statistics.median(times), "bytes": pyramid.nbytes, "levels": len(heads)}


def first_frame(browser: Any, url: str, mosaics: bool) -> tuple[float, float, dict[str, Any]]:
    """(ms to the full overview, ms to the map's first frame of any kind, what drew it)."""
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + ("?mosaics=1" if mosaics else ""))
    page.wait_for_function("window.benchReady === true", timeout=300_000)
    if mosaics:
        page.wait_for_function("window.tMosaicFull !== undefined", timeout=300_000)
        ms = page.evaluate("window.tMosaicFull - window.tData")
    else:
        page.wait_for_function("window.vv.stats.firstFullRender !== null", timeout=600_000)
        ms = page.evaluate("window.vv.stats.firstFullRender - window.tData")
    start = page.evaluate("window.tFirstFrame - window.tData")
    last = page.evaluate("({...window.vv.grid.lastDraw})")
    page.close()
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    return ms, start, last


def bench(sizes: list[int], runs: int) -> list[dict[str, Any]]:
    if not BUNDLE.exists():
        raise SystemExit(f"{BUNDLE} is missing: run `npm run build` first")
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        for n in sizes:
            folder = Path(tempfile.mkdtemp(prefix=f"vvoverview{n}-"))
            try:
                payload = build_payload(n, folder)
                pyr = add_pyramid(folder, repeats=3 if n <= 100_000 else 1)
                shutil.copy(BUNDLE, folder / "widget.js")
                (folder / "index.html").write_text(page_html())
                server, url = _serve(folder)
                ours, base, start, last = [], [], [], {}
                for _ in range(runs):  # alternate, so both see the same machine load
                    ms, first, last = first_frame(browser, url, True)
                    ours.append(ms)
                    start.append(first)
                    base.append(first_frame(browser, url, False)[0])
                server.shutdown()
                row = {
                    "n": n,
                    "ours": statistics.median(ours),
                    "base": statistics.median(base),
                    "start": statistics.median(start),
                    "images": last.get("images"),
                    "atlas_bytes": payload["first"],
                    **pyr,
                }
                print(f"[{n:,}] {row}", file=sys.stderr, flush=True)
                out.append(row)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"BLAS: {blas_kernel()}")
    rows = bench(args.sizes, args.runs)
    print(
        "| N | overview first full frame: mosaics (drawImage calls) | today's overview "
        "(one drawImage per image) | ratio | widget's first frame (any) | pyramid build "
        "(kernel) | mosaics / atlases |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        today = f"{r['base']:.0f} ms" + (" (colours only)" if r["n"] > 300_000 else "")
        print(
            f"| {r['n']:,} | {r['ours']:.0f} ms ({r['images']}) | {today} | "
            f"{r['base'] / max(r['ours'], 1e-3):.1f}× | {r['start']:.0f} ms | "
            f"{r['build_s']:.2f} s ({r['levels']} levels)"
            f" | {r['bytes'] / 1e6:.1f} MB / {r['atlas_bytes'] / 1e6:.1f} MB |"
        )


if __name__ == "__main__":
    main()
