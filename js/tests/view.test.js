import assert from "node:assert/strict";
import { test } from "node:test";
import { cellToScreen, fitView, panBy, screenToCell, visibleCells, zoomAt } from "../view.js";

test("fitView centres the grid and fits the limiting side", () => {
  const v = fitView(10, 20, 420, 300, 10);
  assert.equal(v.scale, 20); // (420-20)/20 = 20 < (300-20)/10 = 28
  assert.equal(v.tx, 10);
  assert.equal(v.ty, (300 - 200) / 2);
});

test("zoomAt keeps the point under the cursor fixed", () => {
  const v = { scale: 10, tx: 5, ty: -7 };
  const sx = 133, sy = 71;
  const wx = (sx - v.tx) / v.scale, wy = (sy - v.ty) / v.scale;
  const z = zoomAt(v, 2.5, sx, sy);
  assert.equal(z.scale, 25);
  assert.ok(Math.abs(wx * z.scale + z.tx - sx) < 1e-9);
  assert.ok(Math.abs(wy * z.scale + z.ty - sy) < 1e-9);
});

test("zoomAt clamps the scale", () => {
  assert.equal(zoomAt({ scale: 10, tx: 0, ty: 0 }, 1e6, 0, 0, 1, 100).scale, 100);
  assert.equal(zoomAt({ scale: 10, tx: 0, ty: 0 }, 1e-6, 0, 0, 1, 100).scale, 1);
});

test("screenToCell inverts cellToScreen, pan shifts it", () => {
  const v = { scale: 12, tx: 30, ty: 18 };
  for (const [r, c] of [[0, 0], [3, 7], [11, 2]]) {
    const p = cellToScreen(v, r, c);
    assert.deepEqual(screenToCell(v, p.x + 6, p.y + 6), { r, c });
  }
  const moved = panBy(v, 12, -24);
  assert.deepEqual(screenToCell(moved, 30 + 12 + 1, 18 - 24 + 1), { r: 0, c: 0 });
  assert.deepEqual(screenToCell(v, 29, 17), { r: -1, c: -1 });
});

test("visibleCells clamps to the grid", () => {
  const v = { scale: 10, tx: -25, ty: 5 };
  assert.deepEqual(visibleCells(v, 100, 50, 100, 100), { r0: 0, c0: 2, r1: 4, c1: 12 });
  assert.deepEqual(visibleCells({ scale: 10, tx: 0, ty: 0 }, 1000, 1000, 3, 4), { r0: 0, c0: 0, r1: 2, c1: 3 });
});

test("zoomLimits: out to the fitted map, in to twice the sharpest thumbnail (device px)", async () => {
  const { zoomLimits } = await import("../view.js");
  assert.deepEqual(zoomLimits(10, 20, 420, 300, 1, 256), { min: 20.2, max: 512 });
  assert.deepEqual(zoomLimits(10, 20, 420, 300, 2, 256), { min: 20.2, max: 256 });
  // a single image fitted bigger than the cap: it may zoom out to the cap, never in past the fit
  assert.deepEqual(zoomLimits(1, 1, 2000, 2000, 1, 256), { min: 512, max: 1984 });
});

test("fitRows centres the hits' bounding box within the limits; no hits -> null", async () => {
  const { fitRows } = await import("../view.js");
  const cells = Int32Array.from([0, 0, 4, 9, 2, 3]);
  const v = fitRows(cells, [1, 2], 600, 400, { min: 1, max: 1000 }, 0);
  // box rows 2..4, cols 3..9: 3 × 7 cells -> scale min(600/7, 400/3)
  assert.ok(Math.abs(v.scale - 600 / 7) < 1e-9);
  assert.ok(Math.abs(v.tx + 6.5 * v.scale - 300) < 1e-9 && Math.abs(v.ty + 3.5 * v.scale - 200) < 1e-9);
  assert.equal(fitRows(cells, [0], 600, 400, { min: 1, max: 50 }).scale, 50);
  assert.equal(fitRows(cells, [], 600, 400, { min: 1, max: 50 }), null);
  assert.equal(fitRows(cells, [-1, 7, NaN], 600, 400, { min: 1, max: 50 }), null);
});
