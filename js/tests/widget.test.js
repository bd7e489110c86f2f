// The whole widget rendered into jsdom with a fake model: input wiring, search, tooltip,
// teardown. Geometry: jsdom has no layout, so the stage is 600 × height px (the widget's fallback).
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { fakeModel, installDom, key, pointer, tick, widgetState } from "./dom.js";

let env, model, root, cleanup, stage;

async function mount({ debug = true, state = widgetState() } = {}) {
  env = installDom();
  globalThis.__vvDebug = debug;
  const { default: widget } = await import("../widget.js");
  model = fakeModel(state);
  const el = document.createElement("div");
  document.body.append(el);
  cleanup = widget.render({ model, el });
  root = el.querySelector(".vv-root");
  stage = el.querySelector(".vv-stage");
  await tick(20);
}

beforeEach(async () => { await mount(); });
afterEach(() => { cleanup?.(); cleanup = null; delete globalThis.__vvDebug; });

const vv = () => root.__vv;
const scale = () => vv().view.scale;

test("one + on the focused map zooms once (1.5×), like the toolbar button", () => {
  stage.focus();
  const s0 = scale();
  key(stage, "keydown", "+");
  assert.ok(Math.abs(scale() / s0 - 1.5) < 1e-9, `zoomed ${scale() / s0}×`);
  root.querySelector(".vv-zoom-in").click();
  assert.ok(Math.abs(scale() / s0 - 2.25) < 1e-9);
  key(stage, "keydown", "-");
  assert.ok(Math.abs(scale() / s0 - 1.5) < 1e-9);
  key(stage, "keydown", "0");
  assert.ok(Math.abs(scale() - s0) < 1e-9);
});

test("map keys typed elsewhere do nothing; Ctrl/Cmd + = is left to the browser", () => {
  const s0 = scale();
  const input = document.createElement("input");
  document.body.append(input);
  input.focus();
  key(input, "keydown", "+");
  key(stage, "keydown", "+", { ctrlKey: true });
  assert.equal(scale(), s0);
});

test("1 zooms to actual size (1:1); the zoom indicator says how far from it the view is", () => {
  stage.focus();
  const level = root.querySelector(".vv-zoom-level");
  assert.match(level.textContent, /^\d+(\.\d)?%$/);
  key(stage, "keydown", "1");
  assert.equal(scale(), 256); // one pixel of the sharpest (256 px) thumbnail per screen pixel
  assert.equal(level.textContent, "100%");
  key(stage, "keydown", "0");
  level.click();
  assert.equal(scale(), 256);
});

test("small sources: the zoom stops at 2× the sharp sizes the kernel lists (64-px emoji: 128 px)", () => {
  model.emit("_sharp_sizes", [16, 32, 64]);
  stage.focus();
  for (let i = 0; i < 40; i++) key(stage, "keydown", "+");
  assert.equal(scale(), 128);
  key(stage, "keydown", "1");
  assert.equal(scale(), 64);
});

test("after Enter or Esc in the search box the keyboard is the map's again (Shift+Hover works)", () => {
  const search = root.querySelector(".vv-search");
  search.focus();
  search.value = "cat";
  key(search, "keydown", "Enter");
  assert.equal(document.activeElement, stage);
  search.focus();
  key(search, "keydown", "a"); // typing keeps the focus in the box
  assert.equal(document.activeElement, search);
  key(search, "keydown", "Escape");
  assert.equal(document.activeElement, stage);
  const v = vv().view;
  pointer(stage, "pointermove", v.tx + 2.5 * v.scale, v.ty + 1.5 * v.scale); // row 8
  key(window, "keydown", "Shift", { shiftKey: true });
  assert.equal(model.state.hovered, 8);
  key(window, "keyup", "Shift");
});

test("zoom stops at the whole map and at a cell twice its sharpest thumbnail", () => {
  stage.focus();
  const { min, max } = vv().limits();
  const s0 = scale();
  assert.ok(Math.abs(min - s0) < 1e-9, "the fitted view is the zoom-out limit");
  for (let i = 0; i < 40; i++) key(stage, "keydown", "+");
  assert.equal(scale(), max);
  assert.equal(max, 512); // 2 × 256 px thumbnails at devicePixelRatio 1
  for (let i = 0; i < 40; i++) stage.dispatchEvent(new window.WheelEvent("wheel", { deltaY: 500, bubbles: true, cancelable: true }));
  assert.equal(scale(), min);
});

test("Shift+Hover is off while a text field elsewhere has focus", () => {
  const v = vv().view;
  const x = v.tx + 2.5 * v.scale, y = v.ty + 1.5 * v.scale; // cell (1, 2) = row 8
  pointer(stage, "pointermove", x, y);
  const editor = document.createElement("div");
  editor.setAttribute("contenteditable", "true"); // a notebook cell's CodeMirror editor
  document.body.append(editor);
  editor.focus();
  key(editor, "keydown", "Shift");
  pointer(stage, "pointermove", x + 1, y, { shiftKey: true });
  assert.ok(!model.saved.some(([k]) => k === "hovered"), "hovered synced while typing");
  assert.equal(root.querySelector(".vv-overlay").dataset.hovered ?? "", "");
  key(editor, "keyup", "Shift");
  editor.blur();
  stage.focus();
  key(stage, "keydown", "Shift");
  assert.deepEqual(model.saved.filter(([k]) => k === "hovered").at(-1), ["hovered", 8]);
  key(stage, "keyup", "Shift");
  assert.deepEqual(model.saved.filter(([k]) => k === "hovered").at(-1), ["hovered", null]);
});

test("a search: Enter sends it, hits dim the rest, fit to the hits, count shown, Esc clears", () => {
  const search = root.querySelector(".vv-search");
  search.value = "cat";
  key(search, "keydown", "Enter");
  assert.equal(model.state.query, "cat");
  const before = { ...vv().view };
  model.emit("highlighted", [0, 1, 7]); // cells (0,0) (0,1) (1,1)
  const v = vv().view;
  assert.ok(v.scale > before.scale, "the view zoomed onto the hits");
  // the hits' bounding box (2 × 2 cells) is centred in the 600 × 400 stage
  assert.ok(Math.abs(v.tx + 1 * v.scale - 300) < 1e-6 && Math.abs(v.ty + 1 * v.scale - 200) < 1e-6);
  assert.match(root.querySelector(".vv-hits").textContent, /^3 hits for “cat”/);
  const calls = root.querySelector(".vv-overlay").getContext("2d").calls;
  assert.ok(calls.some(([n, x, y, w, h]) => n === "fillRect" && x === 0 && y === 0 && w === 600 && h === 400), "no dimming");
  // ⤢ toggles between the hits and the whole map
  root.querySelector(".vv-fit").click();
  assert.ok(vv().view.scale < v.scale);
  root.querySelector(".vv-fit").click();
  assert.equal(vv().view.scale, v.scale);
  stage.focus();
  key(stage, "keydown", "Escape");
  assert.equal(model.state.query, "");
  assert.deepEqual(model.state.highlighted, []);
  model.emit("highlighted", []);
  assert.equal(root.querySelector(".vv-hits").textContent, "");
});

test("Enter on the map fits the hits of a search set from Python", () => {
  model.emit("query", "dog");
  model.emit("highlighted", [35 - 6, 29 - 6]);
  stage.focus();
  const s0 = scale();
  key(stage, "keydown", "Enter");
  assert.ok(scale() > s0);
});

test("a tooltip palette swatch starts a colour search, like the toolbar picker", async () => {
  const v = vv().view;
  pointer(stage, "pointermove", v.tx + 0.5 * v.scale, v.ty + 0.5 * v.scale);
  await tick(300); // tooltip delay -> the widget asks the kernel for row 0's details
  assert.deepEqual(model.sent.at(-1), { type: "info", row: 0 });
  model.message({ type: "info", row: 0, version: 1, meta: { row: 0, name: "a.jpg", path: "/a.jpg",
    keywords: [["sea", NaN], ["sky", "0.5"]], palette: [[255, 0, 0], [1.4, 2, 300]], size: "2048",
    width: "640", height: 480 } }, []);
  const tip = root.querySelector(".vv-tooltip");
  assert.equal(tip.style.display, "");
  assert.match(tip.textContent, /sea · sky 0\.50/);
  assert.match(tip.textContent, /640×480 · 2\.0 KB/);
  const swatches = tip.querySelectorAll(".vv-tip-swatch");
  assert.deepEqual([...swatches].map((s) => s.dataset.hex), ["#ff0000", "#0102ff"]);
  // the pointer travels onto the tooltip: it stays, and a press there is not a map click
  pointer(swatches[1], "pointermove", 50, 50);
  pointer(swatches[1], "pointerdown", 50, 50);
  await tick(400);
  assert.equal(tip.style.display, "");
  swatches[1].click();
  assert.equal(model.state.colour_query, "#0102ff");
  assert.equal(root.querySelector(".vv-colour").value, "#0102ff");
  assert.ok(!model.saved.some(([k]) => k === "selected"), "the swatch press selected a cell");
  model.emit("highlighted", [20]);
  assert.ok(scale() > vv().limits().min, "the view fits the colour hits");
  assert.match(root.querySelector(".vv-hits").textContent, /1 hit for #0102ff/);
});

test("tooltip object URLs are revoked when the data change and at teardown", async () => {
  const made = [], revoked = [];
  const orig = [URL.createObjectURL, URL.revokeObjectURL];
  URL.createObjectURL = () => { made.push(`blob:${made.length}`); return made.at(-1); };
  URL.revokeObjectURL = (u) => revoked.push(u);
  try {
    model.message({ type: "info", row: 1, version: 1, meta: {} }, [new Uint8Array([1, 2])]);
    model.message({ type: "info", row: 1, version: 1, meta: {} }, [new Uint8Array([1, 2])]); // replaced
    assert.deepEqual(revoked, ["blob:0"]);
    model.message({ type: "info", row: 2, version: 1, meta: {} }, [new Uint8Array([3])]);
    model.emit("_data_version", 2);
    assert.deepEqual(revoked.sort(), ["blob:0", "blob:1", "blob:2"]);
    model.message({ type: "info", row: 3, version: 2, meta: {} }, [new Uint8Array([3])]);
    cleanup();
    cleanup = null;
    assert.ok(revoked.includes("blob:3"));
  } finally {
    [URL.createObjectURL, URL.revokeObjectURL] = orig;
  }
});

test("a broken thumbnail is counted, not thrown; one decoded after teardown is closed", async () => {
  const atlas = { type: "atlas", version: 1, index: 0, first: 0, count: 30, tile: 24, cols: 32 };
  env.bitmaps.mode = "fail";
  model.message(atlas, [new Uint8Array([0xff, 0xd8])]);
  await tick(5);
  assert.equal(vv().stats.bitmapErrors, 1);
  env.bitmaps.mode = "hold";
  model.message(atlas, [new Uint8Array([0xff, 0xd8])]);
  const grid = vv().grid;
  cleanup();
  cleanup = null;
  env.bitmaps.pending.forEach((resolve) => resolve());
  await tick(5);
  assert.equal(env.bitmaps.closed, 1);
  assert.equal(grid.atlases.filter(Boolean).length, 0);
});

test("teardown removes every model and window listener", () => {
  assert.ok(model.listenerCount() > 5);
  cleanup();
  cleanup = null;
  assert.equal(model.listenerCount(), 0);
  const s0 = scale();
  key(stage, "keydown", "+");
  assert.equal(scale(), s0);
});

test("without the debug flag there is no root.__vv and no stats", async () => {
  cleanup();
  await mount({ debug: false });
  assert.equal(root.__vv, undefined);
});

test("⟳ rescans new files; Shift+click asks, then rescans everything", async () => {
  const button = root.querySelector(".vv-rescan");
  button.click();
  assert.deepEqual(model.sent.at(-1), { type: "rescan", force: false });
  let asked = 0;
  window.confirm = () => { asked += 1; return false; };
  button.dispatchEvent(new window.MouseEvent("click", { shiftKey: true, bubbles: true }));
  assert.equal(asked, 1);
  assert.deepEqual(model.sent.at(-1), { type: "rescan", force: false });
  window.confirm = () => true;
  button.dispatchEvent(new window.MouseEvent("click", { shiftKey: true, bubbles: true }));
  assert.deepEqual(model.sent.at(-1), { type: "rescan", force: true });
});

test("pointer: click selects, Ctrl+click toggles, Ctrl+drag adds a box, a plain drag pans", () => {
  const v = vv().view;
  const at = (r, c) => [v.tx + (c + 0.5) * v.scale, v.ty + (r + 0.5) * v.scale];
  const click = (xy, opts = {}) => {
    pointer(stage, "pointerdown", ...xy, opts);
    pointer(stage, "pointerup", ...xy, opts);
  };
  model.state.selected = [5];
  click(at(0, 2)); // the map had no focus: this click only gives it the keyboard focus
  assert.equal(document.activeElement, stage);
  assert.deepEqual(model.state.selected, [5]);
  click(at(0, 2));
  assert.deepEqual(model.state.selected, [2]);
  click(at(1, 0), { ctrlKey: true });
  assert.deepEqual(model.state.selected.sort(), [2, 6]);
  click(at(0, 2), { ctrlKey: true });
  assert.deepEqual(model.state.selected, [6]);
  pointer(stage, "pointerdown", ...at(2, 0), { ctrlKey: true });
  pointer(stage, "pointermove", ...at(3, 1), { ctrlKey: true });
  pointer(stage, "pointerup", ...at(3, 1), { ctrlKey: true });
  assert.deepEqual(model.state.selected.sort((a, b) => a - b), [6, 12, 13, 18, 19]);
  click([1, 1]); // outside the map: clears
  assert.deepEqual(model.state.selected, []);
  const before = { ...vv().view };
  pointer(stage, "pointerdown", 300, 200);
  pointer(stage, "pointermove", 340, 190);
  pointer(stage, "pointerup", 340, 190);
  assert.deepEqual([vv().view.tx - before.tx, vv().view.ty - before.ty], [40, -10]);
  assert.deepEqual(model.state.selected, []); // a drag is not a click
});
