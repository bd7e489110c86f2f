// Lasso and selection gestures, the selection bar, the neighbour panel and the duplicate review:
// pure functions first, then the widget rendered into jsdom (as widget.test.js does).
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { fakeModel, installDom, key, pointer, tick, widgetState } from "./dom.js";
import { extendPath, pointInPolygon, rowsInLasso, toWorld } from "../lasso.js";
import { countText, dragSelect, readShape } from "../selection.js";
import { copyText, tagNames } from "../selectbar.js";
import { centreOn } from "../nbpanel.js";
import { choose, itemFacts, readReview } from "../dupreview.js";
import { missingSharp } from "../thumbcanvas.js";

const square = [{ x: 0, y: 0 }, { x: 4, y: 0 }, { x: 4, y: 4 }, { x: 0, y: 4 }];

test("pointInPolygon: inside, outside, concave notch, degenerate", () => {
  assert.equal(pointInPolygon(2, 2, square), true);
  assert.equal(pointInPolygon(5, 2, square), false);
  assert.equal(pointInPolygon(-0.1, 2, square), false);
  // a U shape: the notch (x 1.5..2.5, y 0..3) is outside
  const u = [{ x: 0, y: 0 }, { x: 1.5, y: 0 }, { x: 1.5, y: 3 }, { x: 2.5, y: 3 }, { x: 2.5, y: 0 },
    { x: 4, y: 0 }, { x: 4, y: 4 }, { x: 0, y: 4 }];
  assert.equal(pointInPolygon(2, 1, u), false);
  assert.equal(pointInPolygon(0.5, 1, u), true);
  assert.equal(pointInPolygon(2, 3.5, u), true);
  assert.equal(pointInPolygon(1, 1, [{ x: 0, y: 0 }, { x: 3, y: 3 }]), false);
});

test("rowsInLasso tests cell centres inside the polygon, only real rows, clamped to the grid", () => {
  // 4 × 4 grid, rows 0..14 in row-major cells, the last cell empty
  const index = Int32Array.from([...Array(15).keys(), -1]);
  // a triangle over the top-left: centres (0.5,0.5), (1.5,0.5), (0.5,1.5) inside; (1.5,1.5) on the edge's far side
  const tri = [{ x: 0, y: 0 }, { x: 2.9, y: 0 }, { x: 0, y: 2.9 }];
  assert.deepEqual(rowsInLasso(index, 4, 4, tri), [0, 1, 4]);
  // a polygon bigger than the grid: every real row, not the empty cell
  const big = [{ x: -10, y: -10 }, { x: 20, y: -10 }, { x: 20, y: 20 }, { x: -10, y: 20 }];
  assert.deepEqual(rowsInLasso(index, 4, 4, big), [...Array(15).keys()]);
  assert.deepEqual(rowsInLasso(index, 4, 4, [{ x: 0, y: 0 }, { x: 3, y: 3 }]), []);
});

test("toWorld inverts the view; extendPath skips points closer than 2 px", () => {
  assert.deepEqual(toWorld([{ x: 30, y: 50 }], { scale: 10, tx: 10, ty: 20 }), [{ x: 2, y: 3 }]);
  const p = [{ x: 0, y: 0 }];
  assert.equal(extendPath(p, { x: 1, y: 1 }), p);
  assert.deepEqual(extendPath(p, { x: 3, y: 0 }), [{ x: 0, y: 0 }, { x: 3, y: 0 }]);
});

test("dragSelect: Ctrl/⌘ adds, Alt replaces, Ctrl/⌘+Alt removes, Shift alone pans", () => {
  assert.equal(dragSelect({ ctrlKey: true }), "add");
  assert.equal(dragSelect({ metaKey: true }), "add");
  assert.equal(dragSelect({ altKey: true }), "replace");
  assert.equal(dragSelect({ ctrlKey: true, altKey: true }), "subtract");
  assert.equal(dragSelect({ metaKey: true, altKey: true }), "subtract");
  assert.equal(dragSelect({}), null);
  assert.equal(dragSelect({ shiftKey: true }), null);
  assert.equal(readShape("lasso"), "lasso");
  assert.equal(readShape("star"), "box");
  assert.equal(countText(0), "");
  assert.equal(countText(1234), "1,234 selected");
});

test("tagNames splits on commas; copyText falls back when the clipboard refuses", async () => {
  assert.deepEqual(tagNames(" trip, 2023 ,,trip "), ["trip", "2023"]);
  const shown = [];
  assert.equal(await copyText("a\nb", { writeText: async () => {} }, (t) => shown.push(t)), "copied");
  assert.equal(await copyText("a\nb", { writeText: async () => { throw new Error("denied"); } }, (t) => shown.push(t)), "shown");
  assert.equal(await copyText("c", undefined, (t) => shown.push(t)), "shown");
  assert.deepEqual(shown, ["a\nb", "c"]);
});

test("centreOn puts the cell in the middle at a readable zoom", () => {
  const cells = Int32Array.from([2, 3]);
  const v = centreOn({ scale: 10, tx: 0, ty: 0 }, cells, 0, 600, 400, { min: 5, max: 512 });
  assert.equal(v.scale, 64);
  assert.equal(v.tx + 3.5 * v.scale, 300);
  assert.equal(v.ty + 2.5 * v.scale, 200);
  assert.equal(centreOn({ scale: 100, tx: 0, ty: 0 }, cells, 0, 600, 400, { min: 5, max: 80 }).scale, 80);
  assert.equal(centreOn({ scale: 10, tx: 0, ty: 0 }, cells, 3, 600, 400, { min: 5, max: 512 }), null);
});

test("duplicate review: readReview drops malformed groups, choose keeps rows of the group only", () => {
  const g = (rows, suggested) => ({ tier: "near", rows, suggested, items: [] });
  const { serial, groups } = readReview({ serial: 3, groups: [g([1, 2], 2), g([3, 4], 9), { tier: 1 }] });
  assert.equal(serial, 3);
  assert.deepEqual(groups.map((x) => x.rows), [[1, 2]]);
  const two = [g([1, 2], 2), g([5, 6, 7], 5)];
  assert.deepEqual(choose([], two, 1, 7), [2, 7]);
  assert.deepEqual(choose([1, 6], two, 0, 2), [2, 6]);
  const same = [1, 6];
  assert.equal(choose(same, two, 0, 7), same); // 7 is not in group 0
  assert.equal(itemFacts({ row: 0, name: "a", width: 4000, height: 3000, size: 2.5 * 1048576, taken: "2023-07-01T10:00:00" }),
    "4000×3000 · 2.5 MB · 2023-07-01");
  assert.equal(itemFacts({ row: 0, name: "a", width: null, height: null, size: 10, taken: null }), "1 kB");
});

test("missingSharp: rows without a large enough thumbnail, in chunks of 256", () => {
  const sharp = new Map([[1, { size: 128 }], [2, { size: 32 }]]);
  assert.deepEqual(missingSharp([1, 2, 3, 3], sharp, 128), [[2, 3]]);
  const many = missingSharp([...Array(300).keys()], new Map(), 64);
  assert.deepEqual(many.map((c) => c.length), [256, 44]);
});

// ---------------------------------------------------------------- the widget in jsdom

let cleanup, model, root, stage;

async function mount(state = widgetState()) {
  installDom();
  globalThis.__vvDebug = true;
  const { default: widget } = await import("../widget.js");
  model = fakeModel(state);
  const el = document.createElement("div");
  document.body.append(el);
  cleanup = widget.render({ model, el });
  root = el.querySelector(".vv-root");
  stage = el.querySelector(".vv-stage");
  await tick(20);
}
afterEach(() => { cleanup?.(); cleanup = null; delete globalThis.__vvDebug; });

const at = (r, c, fx = 0.5, fy = 0.5) => {
  const v = root.__vv.view;
  return [v.tx + (c + fx) * v.scale, v.ty + (r + fy) * v.scale];
};

test("lasso: Alt-drag replaces with the enclosed cells, Ctrl adds, Ctrl+Alt removes; count shown", async () => {
  await mount();
  root.querySelector(".vv-shape[data-shape='lasso']").click();
  const drag = (pts, opts) => {
    pointer(stage, "pointerdown", ...pts[0], opts);
    for (const p of pts.slice(1)) pointer(stage, "pointermove", ...p, opts);
    pointer(stage, "pointerup", ...pts.at(-1), opts);
  };
  // a triangle around cells (0,0), (0,1), (1,0) of the 6-column grid: rows 0, 1, 6
  const tri = [at(0, 0, 0.1, 0.1), at(0, 2, 0.1, 0.1), at(0, 2, 0.1, 0.2), at(2, 0, 0.1, 0.1), at(1, 0, 0.1, 0.5)];
  drag(tri, { altKey: true });
  assert.deepEqual(model.state.selected.sort((a, b) => a - b), [0, 1, 6]);
  assert.equal(root.querySelector(".vv-selcount").textContent, "3 selected");
  assert.equal(root.__vv.store.get().lasso, null, "the lasso is gone after the release");
  const around = (r, c) => [at(r, c, 0.1, 0.1), at(r, c, 0.9, 0.1), at(r, c, 0.9, 0.9), at(r, c, 0.1, 0.9)];
  drag(around(3, 3), { ctrlKey: true });
  assert.deepEqual(model.state.selected.sort((a, b) => a - b), [0, 1, 6, 21]);
  drag(around(0, 1), { ctrlKey: true, altKey: true });
  assert.deepEqual(model.state.selected.sort((a, b) => a - b), [0, 6, 21]);
  // box shape again: Ctrl+Alt box removes too
  root.querySelector(".vv-shape[data-shape='box']").click();
  drag([at(0, 0), at(1, 0)], { ctrlKey: true, altKey: true });
  assert.deepEqual(model.state.selected, [21]);
  root.querySelector(".vv-selclear").click();
  assert.deepEqual(model.state.selected, []);
  assert.equal(root.querySelector(".vv-selcount").textContent, "");
});

test("selection bar: Tag/Untag send the names, Copy paths asks the kernel and copies the reply", async () => {
  await mount({ ...widgetState(), selected: [2, 3] });
  const input = root.querySelector(".vv-tag-input");
  input.value = "trip, 2023";
  root.querySelector(".vv-tag").click();
  root.querySelector(".vv-untag").click();
  assert.deepEqual(model.sent.filter((m) => m.type === "tag"),
    [{ type: "tag", names: ["trip", "2023"], remove: false }, { type: "tag", names: ["trip", "2023"], remove: true }]);
  key(input, "keydown", "Enter");
  assert.equal(model.sent.filter((m) => m.type === "tag").length, 3);
  root.querySelector(".vv-copy").click();
  assert.deepEqual(model.sent.at(-1), { type: "paths" });
  model.message({ type: "paths", paths: ["/a/x.jpg", "/a/y.jpg"], version: 1 });
  await tick(5); // jsdom has no clipboard: the paths are shown to copy by hand
  const manual = root.querySelector(".vv-copy-fallback");
  assert.equal(manual.value, "/a/x.jpg\n/a/y.jpg");
  assert.equal(manual.style.display, "");
  assert.match(root.querySelector(".vv-selnote").textContent, /2 paths/);
});

test("neighbour panel: Shift+Hover opens it with k+1 images, names arrive, a click centres the map", async () => {
  await mount();
  const panel = root.querySelector(".vv-nbpanel");
  assert.equal(panel.style.display, "none");
  pointer(stage, "pointermove", ...at(1, 2));
  key(stage, "keydown", "Shift");
  assert.equal(panel.style.display, "");
  const cards = [...panel.querySelectorAll(".vv-nb")];
  assert.deepEqual(cards.map((c) => Number(c.dataset.row)), [8, 9, 10, 11]); // k = 3
  assert.deepEqual(model.sent.find((m) => m.type === "names"), { type: "names", rows: [8, 9, 10, 11] });
  assert.ok(model.sent.some((m) => m.type === "thumbs" && m.rows.includes(11)), "sharp thumbnails asked for");
  model.message({ type: "names", rows: [8, 9, 10, 11], names: ["a.jpg", "b.jpg", "c.jpg", "d.jpg"], version: 1 });
  assert.equal(cards[3].querySelector(".vv-nb-name").textContent, "d.jpg");
  key(stage, "keyup", "Shift");
  assert.equal(panel.style.display, "", "the panel stays after Shift is released");
  const before = { ...root.__vv.view };
  cards[3].dispatchEvent(new window.MouseEvent("click", { bubbles: true }));
  const v = root.__vv.view;
  assert.notDeepEqual(v, before);
  assert.equal(v.tx + (5 + 0.5) * v.scale, 300); // row 11 = cell (1, 5), centred in a 600-px stage
  panel.querySelector(".vv-nbpanel-close").click();
  assert.equal(panel.style.display, "none");
});

test("duplicate review: opens on a new review, a click keeps another image and syncs the choice", async () => {
  await mount();
  root.querySelector(".vv-dups").click();
  assert.deepEqual(model.sent.at(-1), { type: "review" });
  const item = (row) => ({ row, name: `r${row}.jpg`, width: 10, height: 10, size: 100, taken: null });
  model.state._duplicate_choices = [4, 7];
  model.emit("_duplicate_review", { serial: 1, groups: [
    { tier: "exact", rows: [3, 4], suggested: 4, items: [item(3), item(4)] },
    { tier: "near", rows: [7, 8, 9], suggested: 7, items: [item(7), item(8), item(9)] },
  ] });
  const review = root.querySelector(".vv-dupreview");
  assert.equal(review.style.display, "");
  assert.equal(review.querySelectorAll(".vv-dup-group").length, 2);
  const kept = () => [...review.querySelectorAll(".vv-dup-kept")].map((e) => Number(e.dataset.row));
  assert.deepEqual(kept(), [4, 7]);
  review.querySelector(".vv-dup-group[data-group='1'] .vv-dup-item[data-row='9']").click();
  assert.deepEqual(model.saved.at(-1), ["_duplicate_choices", [4, 9]]);
  assert.deepEqual(kept(), [4, 9]);
  review.querySelector(".vv-dup-close").click();
  assert.equal(review.style.display, "none");
});
