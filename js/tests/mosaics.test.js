import assert from "node:assert/strict";
import { test } from "node:test";
import { installDom, recordingContext } from "./dom.js";
import { MosaicPyramid, chooseLevel, mosaicsInView } from "../mosaics.js";
import { GridRenderer } from "../grid.js";
import { readReply } from "../requests.js";

// A 16-px-tile map of 100 × 60 cells: level 0 is 1600 × 960 px, 256-px mosaics.
const levels = [16, 8, 4, 2, 1].map((cell) => ({ cell }));

test("chooseLevel: the coarsest level still at least one cell per screen cell", () => {
  assert.equal(chooseLevel(levels, 1), 4); // 1 px per cell: level 4 (cell 1 px)
  assert.equal(chooseLevel(levels, 1.5), 3); // level 4 would lose detail: level 3 (cell 2 px)
  assert.equal(chooseLevel(levels, 7.9), 1);
  assert.equal(chooseLevel(levels, 16), 0);
  assert.equal(chooseLevel(levels, 40), 0); // zoomed in past level 0: the finest
  assert.equal(chooseLevel(levels, 0.1), 4);
  assert.equal(chooseLevel([], 3), null);
  // only the coarse levels arrived so far: the best of those
  assert.equal(chooseLevel([undefined, undefined, { cell: 4 }, { cell: 2 }], 7.9), 2);
  assert.equal(chooseLevel([{ cell: 16 }, undefined, undefined, { cell: 2 }], 3), 0);
});

test("mosaicsInView: the mosaics the canvas shows, clamped to the level", () => {
  const lv = { cell: 16, side: 256, cols: 7, rows: 4 }; // 1600 × 960 px
  // 1 screen px per level px, origin at the map's corner: a 600 × 300 canvas shows 3 × 2
  const refs = mosaicsInView(lv, { scale: 16, tx: 0, ty: 0 }, 600, 300);
  assert.deepEqual(refs.map((r) => r.i), [0, 1, 2, 7, 8, 9]);
  // panned to the bottom-right corner: the last column and row only
  const corner = mosaicsInView(lv, { scale: 16, tx: -1550, ty: -900 }, 200, 200);
  assert.deepEqual(corner.map((r) => [r.col, r.row]), [[6, 3]]);
  // half a screen px per level px: the whole level fits in 800 × 480
  assert.equal(mosaicsInView(lv, { scale: 8, tx: 0, ty: 0 }, 800, 480).length, 28);
  // the view entirely off the map: nothing
  assert.deepEqual(mosaicsInView(lv, { scale: 16, tx: 5000, ty: 0 }, 600, 300), []);
});

const tick = () => new Promise((ok) => setTimeout(ok, 0));

test("draw: one drawImage per visible mosaic at the chosen level, decoded on first use", async () => {
  const p = new MosaicPyramid();
  const decoded = [];
  p.decode = async (blob) => { decoded.push(blob.tag + blob.i); return blob; };
  let ready = 0;
  p.onReady = () => { ready += 1; };
  const bmps = (n, tag) => Array.from({ length: n }, (_, i) => ({ tag, i, close() {} }));
  const head = { type: "mosaics", version: 1, pyramid: 3, levels: 2, side: 256 };
  p.add({ ...head, level: 1, cell: 2, width: 200, height: 120, cols: 1, rows: 1 }, bmps(1, "L1"));
  p.add({ ...head, level: 0, cell: 4, width: 400, height: 240, cols: 2, rows: 1 }, bmps(2, "L0"));
  const ctx = recordingContext();
  // small levels decode on arrival (coarsest first); until then nothing is drawn
  assert.equal(p.draw(ctx, { scale: 3, tx: 0.3, ty: 0 }, 400, 300, 1), null);
  await tick();
  assert.deepEqual(decoded, ["L10", "L00", "L01"]);
  assert.equal(ready, 3);
  const drawn = p.draw(ctx, { scale: 3, tx: 0.3, ty: 0 }, 400, 300, 1);
  assert.deepEqual(drawn, { level: 0, images: 2, complete: true });
  const calls = ctx.calls.filter(([n]) => n === "drawImage");
  assert.deepEqual(calls.map((c) => c[1].tag + c[1].i), ["L00", "L01"]);
  assert.deepEqual(calls[0].slice(2), [0, 0, 192, 180]); // 256 px × 0.75, snapped
  assert.equal(calls[0][2] + calls[0][4], calls[1][2]); // no seam between neighbours
  assert.deepEqual(p.draw(ctx, { scale: 1.5, tx: 0, ty: 0 }, 400, 300, 1), { level: 1, images: 1, complete: true });
  // zoomed so that a new level-0 mosaic is needed: the decoded level 1 stands in meanwhile
  p.levels[0].bmps[1] = undefined;
  const partial = recordingContext();
  assert.deepEqual(p.draw(partial, { scale: 3, tx: 0, ty: 0 }, 400, 300, 1), { level: 0, images: 2, complete: false });
  assert.deepEqual(partial.calls.filter(([n]) => n === "drawImage").map((c) => c[1].tag + c[1].i), ["L10", "L00"]);
  // a big level is decoded only where a frame needs it
  p.add({ ...head, level: 0, cell: 4, width: 400, height: 240, cols: 17, rows: 1, side: 24 }, bmps(17, "big"));
  await tick();
  assert.equal(decoded.filter((d) => d.startsWith("big")).length, 0);
  p.draw(recordingContext(), { scale: 3, tx: 0, ty: 0 }, 40, 30, 1);
  await tick();
  assert.deepEqual(decoded.filter((d) => d.startsWith("big")), ["big0", "big1", "big2"]);
  // a new pyramid number replaces every level
  p.add({ ...head, pyramid: 4, level: 1, cell: 2, width: 200, height: 120, cols: 1, rows: 1 }, bmps(1, "new"));
  assert.deepEqual(p.levels.filter(Boolean).map((l) => l.blobs[0].tag), ["new"]);
});

test("grid: zoomed out it draws mosaics (not the overview) once they arrive; new cells drop them", async () => {
  installDom();
  const g = new GridRenderer();
  const n = 6;
  g.setCells(Int32Array.from([0, 0, 0, 1, 0, 2, 1, 0, 1, 1, 1, 2]), n, 2, 4, new Uint8Array(3 * n).fill(90));
  const theme = { bg: "#111" };
  let ctx = recordingContext();
  g.draw(ctx, { scale: 4, tx: 0, ty: 0 }, 100, 100, 1, theme);
  assert.equal(g.lastDraw.from, "overview"); // no mosaics yet: today's overview
  const mosaic = { tag: "m", close() {} };
  g.mosaics.decode = async (blob) => blob;
  g.addMosaics({ type: "mosaics", version: 1, pyramid: 1, level: 0, levels: 1, cell: 24, width: 96,
    height: 48, side: 512, cols: 1, rows: 1 }, [mosaic]);
  g.draw(recordingContext(), { scale: 4, tx: 0, ty: 0 }, 100, 100, 1, theme); // starts the decode
  assert.equal(g.lastDraw.from, "overview");
  await tick();
  ctx = recordingContext();
  g.draw(ctx, { scale: 4, tx: 0, ty: 0 }, 100, 100, 1, theme);
  assert.equal(g.lastDraw.from, "mosaics");
  const images = ctx.calls.filter(([name]) => name === "drawImage").map((c) => c[1]);
  assert.equal(images[0], mosaic);
  assert.equal(images.length, 2); // the mosaic, then the empty-cell mask (cells (0,3), (1,3))
  g.setCells(Int32Array.from([0, 1, 0, 0, 0, 2, 1, 0, 1, 1, 1, 2]), n, 2, 4, null);
  g.tween = null; // (small maps animate a move; not what this test draws)
  g.draw(recordingContext(), { scale: 4, tx: 0, ty: 0 }, 100, 100, 1, theme);
  assert.equal(g.lastDraw.from, "overview");
  g.useMosaics = false; // the benchmark's baseline
  g.addMosaics({ type: "mosaics", version: 1, pyramid: 2, level: 0, levels: 1, cell: 24, width: 96,
    height: 48, side: 512, cols: 1, rows: 1 }, [mosaic]);
  g.draw(recordingContext(), { scale: 4, tx: 0, ty: 0 }, 100, 100, 1, theme);
  assert.equal(g.lastDraw.from, "overview");
});

test("readReply: a mosaics message needs its numbers and one buffer per mosaic", () => {
  const ok = { type: "mosaics", version: 1, pyramid: 1, level: 0, levels: 1, cell: 4, width: 600,
    height: 300, side: 512, cols: 2, rows: 1 };
  assert.equal(readReply(ok, 2), ok);
  assert.equal(readReply(ok, 1), null);
  assert.equal(readReply({ ...ok, cell: 0 }, 2), null);
  assert.equal(readReply({ ...ok, level: -1 }, 2), null);
  assert.equal(readReply({ ...ok, side: "512" }, 2), null);
});
