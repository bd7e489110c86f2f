import assert from "node:assert/strict";
import { test } from "node:test";
import { installDom, tick } from "./dom.js";
import { GridRenderer } from "../grid.js";
import { createPainter } from "../paint.js";
import { Store } from "../store.js";
import { viewControl } from "../view.js";

function setup() {
  installDom();
  const grid = new GridRenderer();
  grid.setCells(Int32Array.from([0, 0, 0, 1, 1, 0]), 3, 2, 2, new Uint8Array(9));
  const store = new Store({
    view: { scale: 1, tx: 0, ty: 0 }, autoFit: true, fittedHits: false, pendingFit: false,
    selected: new Set(), highlighted: [], hover: null, pointed: -1, pointer: null, box: null,
    dragging: false, version: 1, theme: {}, dpr: 1, sharpSizes: [16, 256],
  });
  const base = document.createElement("canvas"), over = document.createElement("canvas");
  let frames = 0;
  const size = () => ({ w: 200, h: 100 });
  const painter = createPainter({ store, grid, base, over, size, stats: null, drawn: () => { frames += 1; } });
  return { store, grid, base, over, painter, view: viewControl({ store, grid, size }), frames: () => frames };
}

test("data-view is the current view as soon as it changes; the map is drawn on the next frame", async () => {
  const { base, painter, view, frames } = setup();
  view.fit();
  assert.equal(base.dataset.view, "42,58,8"); // (100 - 16) / 2 px per cell, centred
  view.zoomBy(2, 0, 0);
  assert.equal(base.dataset.view, "84,116,16", "a reader right after the event sees the new view");
  assert.equal(frames(), 0);
  await tick(50);
  assert.equal(frames(), 1, "one frame for both changes");
  painter.dispose();
});

test("the overlay is redrawn at once when a mark changes, and shows the hovered row", () => {
  const { store, over, painter } = setup();
  const calls = over.getContext("2d").calls;
  const before = calls.length;
  store.set({ hover: { row: 2, nbrs: [] } });
  assert.ok(calls.length > before);
  assert.equal(over.dataset.hovered, "2");
  store.set({ hover: null });
  assert.equal(over.dataset.hovered, "");
  painter.dispose();
  const n = calls.length;
  store.set({ selected: new Set([1]) });
  assert.equal(calls.length, n, "drawn after dispose");
});

test("⤢ toggles between the hits and the whole map; hits fit once after a search from here", () => {
  const { store, view, painter } = setup();
  view.fit();
  const whole = store.get().view.scale;
  store.set({ highlighted: [2] });
  view.hitsArrived();
  assert.equal(store.get().view.scale, whole, "hits set from Python do not move the view");
  store.set({ pendingFit: true });
  view.hitsArrived();
  assert.ok(store.get().view.scale > whole && store.get().fittedHits && !store.get().pendingFit);
  view.fitToggle();
  assert.equal(store.get().view.scale, whole);
  assert.ok(store.get().autoFit && !store.get().fittedHits);
  view.fitToggle();
  assert.ok(store.get().fittedHits);
  view.setView({ scale: 3, tx: 0, ty: 0 });
  assert.ok(!store.get().fittedHits && !store.get().autoFit);
  assert.equal(view.limits().max, 512, "twice the sharpest size the kernel cuts");
  painter.dispose();
});
