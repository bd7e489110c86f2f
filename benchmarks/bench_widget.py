"""Widget benchmark in headless Chromium: payload size, first render, Shift+Hover, pan/zoom.

A static page loads the bundled ESM (vectorvision_widget/static/widget.js) with a fake anywidget
model holding a synthetic library (generated thumbnails packed by the real atlas code, random
unit vectors' neighbour tables as the widget would send them). Each measure is paired with a
naive baseline measured in the same run:
  payload   ours: binary arrays + JPEG atlases | baseline: the same as JSON lists + base64
  render    ours: overview blit when zoomed out | baseline: one drawImage per visible tile
  hover     ours: overlay-only redraw           | baseline: full redraw of map + overlay

Run: python benchmarks/bench_widget.py [--sizes 10000 100000]   (needs `npm run build` first)
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from vectorvision_widget.modes import MODE_INFO
from vectorvision_widget.som.layout import default_grid_shape
from vectorvision_widget.thumbs.tiles import ATLAS_COLS, atlas_image, default_tile_size, encode_jpeg
from vectorvision_widget.widget.serialize import (
    array_to_json,
    narrow_to_json,
    quantized_to_json,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchutil, also under runpy
from benchutil import blas_kernel as _blas

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "vectorvision_widget" / "static" / "widget.js"
CSS = REPO / "vectorvision_widget" / "widget" / "widget.css"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
K = 10

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>{css}</style></head>
<body style="margin:0"><div id="host" style="width:1100px"></div>
<script type="module">
import widget from "./widget.js";
const meta = await (await fetch("meta.json")).json();
const bin = async (name) => new DataView(await (await fetch(name)).arrayBuffer());
const state = {{...meta.state}};
const wire = async (key) => ({{...meta.arrays[key], view: await bin(key + ".bin")}});
state._cells = await wire("_cells");
state._colours = await wire("_colours");
state._table = {{idx: await wire("idx"), scores: await wire("scores")}};
const atlases = [];
for (const a of meta.atlases) atlases.push([a, await bin(`atlas${{a.index}}.jpg`)]);
const listeners = {{}};
const model = {{
  get: (k) => state[k], set: (k, v) => {{ state[k] = v; }}, save_changes: () => {{}},
  on: (ev, fn) => {{ (listeners[ev] ||= []).push(fn); }}, off: () => {{}},
  send: (msg) => {{
    if (msg.type === "hello")
      setTimeout(() => atlases.forEach(([h, buf]) => listeners["msg:custom"]?.forEach(
        (f) => f({{type: "atlas", version: state._data_version, ...h}}, [buf]))));
  }},
}};
window.__vvDebug = true;  // test hooks (root.__vv, stats) only behind this flag
window.tData = performance.now();  // all data in memory: the clock for first render starts here
widget.render({{ model, el: document.getElementById("host") }});
window.vv = document.querySelector(".vv-root").__vv;
const baseCanvas = document.querySelector("canvas.vv-base");
const firstFrame = () => {{  // the first drawn frame of the map (overview), after render's draw
  if (baseCanvas.dataset.ready === "1") window.tFirstFrame = performance.now();
  else requestAnimationFrame(firstFrame);
}};
requestAnimationFrame(firstFrame);
window.benchReady = true;
</script></body></html>"""


def build_payload(n: int, out: Path, seed: int = 0) -> dict[str, Any]:
    """Write the files a widget for n synthetic images would send; return byte counts."""
    rng = np.random.default_rng(seed)
    rows, cols = default_grid_shape(n)
    flat = rng.permutation(rows * cols)[:n]
    cells = np.stack(np.divmod(flat, cols), axis=1).astype(np.int32)
    colours = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
    idx = rng.integers(0, n, size=(n, K), dtype=np.int32)
    scores = np.sort(rng.random((n, K), dtype=np.float32), axis=1)[:, ::-1].copy()
    t = default_tile_size(n)  # the widget's level of detail: 4-px tiles at 1M
    ramp = np.linspace(0.6, 1.2, t, dtype=np.float32)
    wire = {
        "_cells": narrow_to_json(cells),
        "_colours": array_to_json(colours),
        "idx": array_to_json(idx),
        "scores": quantized_to_json(scores, -1.0, 1.0),
    }  # exactly what the widget's traits serialise to
    arrays = {name: bytes(w["view"]) for name, w in wire.items()}
    for name, data in arrays.items():
        (out / f"{name}.bin").write_bytes(data)
    array_meta = {name: {k: v for k, v in w.items() if k != "view"} for name, w in wire.items()}
    per = ATLAS_COLS * ATLAS_COLS
    atlases, atlas_bytes, b64_bytes = [], 0, 0
    for index, first in enumerate(range(0, n, per)):
        count = min(per, n - first)
        # generated thumbnails: the image's colour shaded by a diagonal ramp plus a little noise
        shade = ramp[None, :, None] * ramp[None, None, ::-1]
        tiles = colours[first : first + count, None, None, :].astype(np.float32) * shade[..., None]
        tiles += rng.normal(0, 6, size=tiles.shape).astype(np.float32)
        jpeg = encode_jpeg(atlas_image(np.clip(tiles, 0, 255).astype(np.uint8)), quality=80)
        (out / f"atlas{index}.jpg").write_bytes(jpeg)
        atlases.append(
            {"index": index, "first": first, "count": count, "tile": t, "cols": ATLAS_COLS}
        )
        atlas_bytes += len(jpeg)
        b64_bytes += len(base64.b64encode(jpeg))
    state = {
        "_grid": [rows, cols],
        "_data_version": 1,
        "k": K,
        "_modes": [list(m) for m in MODE_INFO],
        "mode": "visual",
        "hybrid_weight": 0.5,
        "query": "",
        "colour_query": "",
        "height": 700,
        "selected": [],
        "highlighted": [],
        "hovered": None,
        "banner": "",
        "error": "",
        "progress": {},
        "_can_rescan": False,
        "_can_search": True,
        "status": "",
    }
    meta = {"state": state, "arrays": array_meta, "atlases": atlases}
    (out / "meta.json").write_text(json.dumps(meta))
    first = len(arrays["_cells"]) + len(arrays["_colours"]) + atlas_bytes + len(json.dumps(meta))
    table = len(arrays["idx"]) + len(arrays["scores"])
    m = min(n, 100_000)  # JSON of a sample, scaled: JSON of 1M rows would take minutes itself
    as_json = (
        len(
            json.dumps(
                {
                    "cells": cells[:m].tolist(),
                    "colors": colours[:m].tolist(),
                    "idx": idx[:m].tolist(),
                    "scores": np.round(scores[:m].astype(float), 6).tolist(),
                }
            )
        )
        * n
        / max(m, 1)
        + b64_bytes
    )
    return {
        "ours": first + table,
        "first": first,
        "table": table,
        "json": as_json,
        "atlases": len(atlases),
        "tile": t,
    }


def _serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/index.html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


FRAMES_JS = """async ([ms, zoomIn, forceTiles]) => {
  const vv = window.vv; vv.grid.forceTiles = forceTiles;
  const v0 = vv.view, w = 1100, h = 700;
  if (zoomIn) vv.setView({scale: v0.scale * 6, tx: v0.tx * 6 - w * 2, ty: v0.ty * 6 - h * 2});
  vv.stats.drawMs.length = 0;
  const times = []; const t0 = performance.now(); let last = t0;
  await new Promise((done) => {
    const step = (now) => {
      times.push(now - last); last = now;
      const i = times.length, v = vv.view;
      const f = 1 + 0.01 * Math.sin(i / 7);
      vv.setView({scale: v.scale * f, tx: v.tx + 3 * Math.cos(i / 20),
                  ty: v.ty + 2 * Math.sin(i / 15)});
      vv.drawNow();
      if (now - t0 < ms) requestAnimationFrame(step); else done();
    };
    requestAnimationFrame(step);
  });
  const draw = [...vv.stats.drawMs].sort((a, b) => a - b);
  vv.grid.forceTiles = false; vv.setView(v0); vv.drawNow();
  return {fps: (times.length - 1) / ((last - t0) / 1000), p50: draw[Math.floor(draw.length / 2)],
          p95: draw[Math.floor(draw.length * 0.95)]};
}"""

HOVER_BASELINE_JS = """(rows) => {
  // naive: every hover redraws the whole map, then the overlay
  const vv = window.vv, out = [];
  for (const r of rows) {
    const t0 = performance.now();
    vv.grid.forceTiles = true; vv.setView(vv.view); vv.drawNow();
    out.push(performance.now() - t0);
  }
  vv.grid.forceTiles = false;
  return out.sort((a, b) => a - b);
}"""


def _log(n: int, text: str) -> None:
    print(f"[{n:,}] {text}", file=sys.stderr, flush=True)


def bench_one(browser: Any, n: int, args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"vvbench{n}-"))
    try:
        t_build = time.perf_counter()
        sizes = build_payload(n, folder)
        build_s = time.perf_counter() - t_build
        shutil.copy(BUNDLE, folder / "widget.js")
        (folder / "index.html").write_text(PAGE.format(css=CSS.read_text()))
        server, url = _serve(folder)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        _log(n, f"payload built in {build_s:.0f} s; loading the page")
        page.wait_for_function("window.benchReady === true", timeout=120_000)
        page.wait_for_function("window.tFirstFrame !== undefined", timeout=120_000)
        frame_ms = page.evaluate("window.tFirstFrame - window.tData")
        _log(n, f"first frame {frame_ms:.0f} ms; waiting for every atlas")
        page.wait_for_function("window.vv.stats.firstFullRender !== null", timeout=600_000)
        first_ms = page.evaluate("window.vv.stats.firstFullRender - window.tData")
        _log(n, f"all atlases drawn {first_ms:.0f} ms; hover, pan, zoom")
        if errors:
            raise RuntimeError(f"page errors: {errors}")
        # Shift+Hover through real input: hold Shift, move across cells.
        stage = page.locator(".vv-stage").bounding_box()
        page.mouse.move(stage["x"] + 50, stage["y"] + 50)
        page.keyboard.down("Shift")
        page.evaluate("window.vv.stats.hoverMs.length = 0; window.vv.stats.hoverWorkMs.length = 0")
        rng = np.random.default_rng(1)
        for _ in range(args.hovers):
            x, y = rng.uniform(0.1, 0.9, 2) * [stage["width"], stage["height"]]
            page.mouse.move(stage["x"] + x, stage["y"] + y)
        hover = sorted(page.evaluate("[...window.vv.stats.hoverMs]"))
        work = sorted(page.evaluate("[...window.vv.stats.hoverWorkMs]"))
        page.keyboard.up("Shift")
        base_n = 30 if n <= 200_000 else 3  # the naive full redraw takes seconds per event at 1M
        hover_base = page.evaluate(HOVER_BASELINE_JS, list(range(min(args.hovers, base_n))))
        pan = page.evaluate(FRAMES_JS, [args.frames_ms, False, False])
        pan_base = page.evaluate(FRAMES_JS, [args.frames_ms, False, True])
        zoom = page.evaluate(FRAMES_JS, [args.frames_ms, True, False])
        page.close()
        server.shutdown()
        if errors:
            raise RuntimeError(f"page errors: {errors}")
        return {
            "n": n,
            "build_s": build_s,
            **sizes,
            "first_ms": first_ms,
            "frame_ms": frame_ms,
            "hover_p50": hover[len(hover) // 2] if hover else float("nan"),
            "hover_p95": hover[int(len(hover) * 0.95)] if hover else float("nan"),
            "hover_base_p50": hover_base[len(hover_base) // 2],
            "work_p50": work[len(work) // 2] if work else float("nan"),
            "work_p95": work[int(len(work) * 0.95)] if work else float("nan"),
            "pan": pan,
            "pan_base": pan_base,
            "zoom": zoom,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(sizes: list[int], *, hovers: int = 60, frames_ms: int = 2000) -> list[dict[str, Any]]:
    """Run the browser measures for each N; returns one dict per size (payload bytes: ``first``
    = what the first render needs, ``table`` = the neighbour table that follows; ``frame_ms``
    first drawn frame, ``first_ms`` every atlas tile drawn; hover and pan/zoom timings).
    benchmarks/bench_million.py calls this with [1_000_000]. Needs `npm run build` first."""
    if not BUNDLE.exists():
        raise SystemExit(f"{BUNDLE} is missing: run `npm run build` first")
    from playwright.sync_api import sync_playwright

    args = argparse.Namespace(hovers=hovers, frames_ms=frames_ms)
    args_chrome = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args_chrome, headless=True)
        for n in sizes:
            results.append(bench_one(browser, n, args))
        browser.close()
    return results


def print_table(results: list[dict[str, Any]]) -> None:
    """The README table for :func:`measure`'s results."""
    print("| N | measure | ours | naive baseline | ratio | goal |")
    print("|---|---|---|---|---|---|")
    for r in results:
        n = f"{r['n']:,}"
        mb = 1e6
        print(
            f"| {n} | initial payload: cells + colours + atlases (tile {r['tile']} px, "
            f"{r['atlases']} atlases) | {r['first'] / mb:.1f} MB | – | – | "
            "≤ 50 MB at 1M |"
        )
        print(
            f"| {n} | + neighbour table (after the map, k={K}) | {r['table'] / mb:.1f} MB | "
            f"{r['json'] / mb:.1f} MB (all as JSON + base64) | "
            f"{r['json'] / r['ours']:.1f}× smaller | – |"
        )
        print(
            f"| {n} | first frame of the map after data arrives | {r['frame_ms']:.0f} ms | – | – "
            f"| ≤ 2000 ms at 1M |"
        )
        print(
            f"| {n} | every atlas tile drawn | {r['first_ms']:.0f} ms | – | – | ≤ 1000 ms at 10k |"
        )
        print(
            f"| {n} | Shift+Hover, pointer event → overlay drawn (p50 / p95) | "
            f"{r['hover_p50']:.1f} / {r['hover_p95']:.1f} ms | – | – | ≤ 16 ms |"
        )
        print(
            f"| {n} | Shift+Hover, handler work only (p50 / p95) | {r['work_p50']:.2f} / "
            f"{r['work_p95']:.2f} ms | {r['hover_base_p50']:.1f} ms (full redraw) | "
            f"{r['hover_base_p50'] / max(r['work_p50'], 1e-3):.0f}× | – |"
        )
        p, pb, z = r["pan"], r["pan_base"], r["zoom"]
        print(
            f"| {n} | pan + zoom, whole map: fps (draw p95) | {p['fps']:.0f} fps "
            f"({p['p95']:.1f} ms) | {pb['fps']:.0f} fps ({pb['p95']:.1f} ms, tile per cell) | "
            f"{pb['p95'] / max(p['p95'], 1e-3):.1f}× | ≥ 50 fps |"
        )
        print(
            f"| {n} | pan + zoom, zoomed in 6×: fps (draw p95) | {z['fps']:.0f} fps "
            f"({z['p95']:.1f} ms) | – | – | ≥ 50 fps |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--hovers", type=int, default=60)
    parser.add_argument("--frames-ms", type=int, default=2000)
    args = parser.parse_args()
    print(f"BLAS: {_blas()}")
    print_table(measure(args.sizes, hovers=args.hovers, frames_ms=args.frames_ms))


if __name__ == "__main__":
    main()
