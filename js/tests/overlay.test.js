import assert from "node:assert/strict";
import { test } from "node:test";
import { applySelection, drawOverlay, markerRect, neighboursOf } from "../overlay.js";

test("applySelection: replace, add, subtract, toggle", () => {
  assert.deepEqual(applySelection([1, 2], [3, 3, 4], "replace"), [3, 4]);
  assert.deepEqual(applySelection([1, 2, 5], [2, 7], "subtract"), [1, 5]);
  assert.deepEqual(applySelection([1, 2], [2, 5], "add").sort(), [1, 2, 5]);
  assert.deepEqual(applySelection([1, 2], [2, 5], "toggle").sort(), [1, 5]);
  assert.throws(() => applySelection([], [1], "xor"));
});

test("neighboursOf reads the row's slice of an N×width table, skipping self and -1", () => {
  const width = 3;
  const idx = Int32Array.from([1, 2, 3, 0, -1, 2, 3, 1, 0, 1, 0, 2]);
  const scores = Float32Array.from([0.9, 0.8, 0.7, 0.95, 0, 0.5, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05]);
  assert.deepEqual(neighboursOf(idx, scores, width, 0, 2).map((n) => [n.row, n.rank]), [[1, 1], [2, 2]]);
  const one = neighboursOf(idx, scores, width, 1, 3);
  assert.deepEqual(one.map((n) => n.row), [0, 2]);
  assert.ok(Math.abs(one[1].score - 0.5) < 1e-6);
  assert.deepEqual(neighboursOf(idx, scores, width, 3, 10).map((n) => n.rank), [1, 2, 3]);
  assert.deepEqual(neighboursOf(idx, scores, width, 4, 3), []); // out of range
  assert.deepEqual(neighboursOf(new Int32Array(0), new Float32Array(0), 0, 0, 3), []);
});

test("markerRect grows tiny cells around their centre", () => {
  const cells = Int32Array.from([2, 5]);
  const v = { scale: 2, tx: 10, ty: 20 };
  const r = markerRect(v, cells, 0, 8);
  assert.equal(r.s, 8);
  assert.equal(r.x + r.s / 2, 5 * 2 + 10 + 1); // same centre as the 2-px cell
  assert.equal(r.y + r.s / 2, 2 * 2 + 20 + 1);
  assert.deepEqual(markerRect({ scale: 20, tx: 0, ty: 0 }, cells, 0, 8), { x: 100, y: 40, s: 20 });
});

// A recording 2D context: which tiles are redrawn and where the dimming goes.
function recorder() {
  const calls = [];
  const ctx = new Proxy({}, {
    get(_t, name) {
      if (name === "measureText") return (s) => ({ width: s.length * 6 });
      return (...args) => calls.push([name, ...args]);
    },
    set() { return true; },
  });
  return { ctx, calls };
}

test("drawOverlay with a hover dims the canvas and redraws the hovered row and its neighbours", () => {
  const { ctx, calls } = recorder();
  const drawn = [];
  const cells = Int32Array.from([0, 0, 0, 1, 1, 0, 1, 1]);
  drawOverlay(ctx, {
    view: { scale: 20, tx: 0, ty: 0 }, w: 100, h: 100, theme: {}, cells,
    selected: new Set([3]), highlighted: [], box: null, pointed: -1,
    hover: { row: 0, nbrs: [{ row: 2, rank: 1, score: 0.9 }] },
    drawTile: (_c, row) => drawn.push(row),
  });
  assert.deepEqual(drawn, [2, 0]);
  assert.ok(calls.some(([n, x, y, w, h]) => n === "fillRect" && x === 0 && y === 0 && w === 100 && h === 100));
  // Two-tone selection ring on row 3 (cell 1,1 => x=20,y=20): dark at inset 1, light at inset 3
  assert.ok(calls.some(([n, x, y, s]) => n === "rect" && x === 21 && y === 21 && s === 18));
  assert.ok(calls.some(([n, x, y, s]) => n === "rect" && x === 23 && y === 23 && s === 14));
});

test("drawOverlay with nothing to show draws no dimming and no tiles", () => {
  const { ctx, calls } = recorder();
  drawOverlay(ctx, {
    view: { scale: 20, tx: 0, ty: 0 }, w: 100, h: 100, theme: {}, cells: Int32Array.from([0, 0]),
    selected: new Set(), highlighted: [], box: null, pointed: 0, hover: null,
    drawTile: () => assert.fail("no tile redraw without hover or hits"),
  });
  assert.ok(!calls.some(([n, x, y, w]) => n === "fillRect" && w === 100));
  assert.ok(calls.some(([n]) => n === "strokeRect")); // the pointed cell's outline
});

test("drawOverlay with search hits dims the map and redraws only the hits, ringed", () => {
  const { ctx, calls } = recorder();
  const drawn = [];
  drawOverlay(ctx, {
    view: { scale: 20, tx: 0, ty: 0 }, w: 100, h: 100, theme: { dim: "D" }, cells: Int32Array.from([0, 0, 0, 1, 9, 9]),
    selected: new Set(), highlighted: [1, 0, 2], box: null, pointed: -1, hover: null,
    drawTile: (_c, row) => drawn.push(row),
  });
  const dim = calls.findIndex(([n, x, y, w, h]) => n === "fillRect" && x === 0 && y === 0 && w === 100 && h === 100);
  assert.ok(dim >= 0, "the map is dimmed");
  assert.deepEqual(drawn, [1, 0]); // row 2 lies outside the 100 px view
  assert.equal(calls.filter(([n]) => n === "strokeRect").length, 2);
  assert.deepEqual(calls.filter(([n]) => n === "fillText").map((c) => c[1]), ["1", "2"]); // rank badges
});

test("neighbourBadges: rank always once cells are visible, score only when it fits", async () => {
  const { neighbourBadges } = await import("../overlay.js");
  assert.deepEqual(neighbourBadges(3, 0.876, 8), []);
  assert.deepEqual(neighbourBadges(3, 0.876, 20).map((b) => b.text), ["3"]);
  const big = neighbourBadges(3, 0.876, 64);
  assert.deepEqual(big.map((b) => [b.text, b.corner]), [["3", "tl"], ["0.88", "br"]]);
});

test("marks: hover syncs `hovered` once per change and ignores its own echo; table and k", async () => {
  const { fakeModel, widgetState } = await import("./dom.js");
  const { marks, readTable } = await import("../overlay.js");
  const { Store } = await import("../store.js");
  const model = fakeModel(widgetState(30));
  const store = new Store({ hover: null, selected: new Set(), highlighted: [] });
  const m = marks({ model, store, stats: null });
  m.setHover(4);
  assert.deepEqual(store.get().hover.nbrs.map((n) => n.row), [5, 6, 7]);
  m.setHover(4);
  assert.deepEqual(model.saved, [["hovered", 4]], "the same row is sent once");
  m.hoveredChanged(); // our own change coming back
  assert.equal(store.get().hover.row, 4);
  model.state.hovered = 9; // Python sets it
  m.hoveredChanged();
  assert.equal(store.get().hover.row, 9);
  assert.equal(model.saved.length, 1, "a row from Python is not echoed back");
  model.state.k = 1;
  m.rehover();
  assert.equal(store.get().hover.nbrs.length, 1);
  model.state._table = {};
  m.tableChanged();
  assert.deepEqual(store.get().hover.nbrs, []);
  assert.equal(readTable(undefined).width, 0);
  m.setHover(-1);
  assert.equal(store.get().hover, null);
  assert.deepEqual(model.saved.at(-1), ["hovered", null]);
  m.select([3, 3, 5]);
  assert.deepEqual(model.state.selected, [3, 5]);
  store.set({ highlighted: [1] });
  m.clearHighlights();
  assert.deepEqual([store.get().highlighted, model.state.query, model.state.highlighted], [[], "", []]);
});
