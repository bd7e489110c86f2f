import assert from "node:assert/strict";
import { test } from "node:test";
import { installDom, recordingContext } from "./dom.js";
import { GridRenderer } from "../grid.js";

const theme = { bg: "#111" };
const bmp = (name, log = []) => ({ name, close: () => log.push(name) });

/** 3 images on a 2 × 3 grid: row i at cells[i]. */
function grid3() {
  installDom();
  const g = new GridRenderer();
  g.setCells(Int32Array.from([0, 0, 1, 2, 0, 1]), 3, 2, 3, Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255]));
  return g;
}

test("setCells indexes every row's cell; empty cells are -1", () => {
  const g = grid3();
  assert.deepEqual([...g.index], [0, 2, -1, -1, -1, 1]);
  assert.equal(g.n, 3);
  const e = new GridRenderer();
  e.setCells(new Int32Array(0), 0, 0, 0, new Uint8Array(0));
  assert.deepEqual([e.rows, e.cols], [1, 1]);
});

test("drawTile: the image's colour until a thumbnail arrives, then the atlas, then sharper", () => {
  const g = grid3();
  const ctx = recordingContext();
  g.drawTile(ctx, 1, 0, 0, 20);
  assert.deepEqual(ctx.calls.at(-1), ["fillRect", 1, 1, 18, 18]);
  const atlas = bmp("atlas");
  g.addAtlas({ index: 0, first: 0, count: 3, tile: 24, cols: 2 }, atlas);
  g.drawTile(ctx, 1, 0, 0, 20);
  assert.deepEqual(ctx.calls.at(-1), ["drawImage", atlas, 24, 0, 24, 24, 1, 1, 18, 18]);
  const sharp = bmp("sharp");
  g.addSharp(1, 128, sharp);
  g.drawTile(ctx, 1, 0, 0, 20); // 20 px: the 24-px atlas tile is enough
  assert.equal(ctx.calls.at(-1)[1], atlas);
  g.drawTile(ctx, 1, 0, 0, 100); // 100 px: the sharp thumbnail
  assert.deepEqual(ctx.calls.at(-1), ["drawImage", sharp, 1, 1, 98, 98]);
});

test("sharp thumbnails: a replaced or evicted bitmap is closed; reset closes everything", () => {
  const g = grid3();
  const closed = [];
  g.addSharp(0, 64, bmp("a", closed));
  g.addSharp(0, 128, bmp("b", closed));
  assert.deepEqual(closed, ["a"]);
  for (let i = 0; i < 1500; i++) g.addSharp(1000 + i, 64, bmp(`s${i}`, closed));
  assert.equal(g.sharp.size, 1500);
  assert.deepEqual(closed, ["a", "b"]); // the oldest (row 0) went first
  g.addAtlas({ index: 0, first: 0, count: 3, tile: 24, cols: 2 }, bmp("atlas", closed));
  g.reset();
  assert.equal(closed.length, 2 + 1500 + 1);
  assert.equal(g.sharp.size, 0);
});

test("wantSharp lists visible rows without a thumbnail of that size", () => {
  const g = grid3();
  const view = { scale: 100, tx: 0, ty: 0 };
  assert.deepEqual(g.wantSharp(view, 200, 100, 128).sort(), [0, 2]); // 2 × 1 cells visible
  g.addSharp(0, 256, bmp("x"));
  g.addSharp(2, 64, bmp("y"));
  assert.deepEqual(g.wantSharp(view, 200, 100, 128), [2]);
  assert.deepEqual(g.wantSharp(view, 1000, 1000, 128).sort(), [1, 2]);
});

test("draw: one overview blit zoomed out, one tile per visible image zoomed in", () => {
  const g = grid3();
  g.tween = null;
  const out = recordingContext();
  g.draw(out, { scale: 4, tx: 0, ty: 0 }, 600, 400, 1, theme);
  assert.equal(out.calls.filter(([n]) => n === "drawImage").length, 1);
  assert.equal(out.calls.filter(([n]) => n === "drawImage")[0][1], g.overview);
  const inn = recordingContext();
  g.draw(inn, { scale: 100, tx: 0, ty: 0 }, 600, 400, 1, theme);
  assert.equal(inn.calls.filter(([n]) => n === "fillRect").length, 1 + 3); // background + 3 colour tiles
  const empty = new GridRenderer();
  const e = recordingContext();
  assert.equal(empty.draw(e, { scale: 1, tx: 0, ty: 0 }, 10, 10, 1, theme), false);
  assert.deepEqual(e.calls, [["fillRect", 0, 0, 10, 10]]);
});

test("a new layout of the same images tweens; a different library does not", () => {
  const g = grid3();
  g.setCells(Int32Array.from([1, 1, 0, 0, 0, 2]), 3, 2, 3, null);
  assert.ok(g.tween);
  assert.equal(g.draw(recordingContext(), { scale: 10, tx: 0, ty: 0 }, 100, 100, 1, theme), true);
  g.setCells(Int32Array.from([0, 0]), 1, 2, 3, null);
  assert.equal(g.tween, null);
});
