import assert from "node:assert/strict";
import { test } from "node:test";
import { labelY, levelFor, placeLabels, readLabels } from "../labels.js";
import { countText, dimPixels, filterFrom, matches, readMask } from "../filterbar.js";
import { MAX_BYTES, refusal, spaceFor } from "../drop.js";
import { hitText, moreK } from "../toolbar.js";

test("readLabels keeps well-formed labels only", () => {
  const got = readLabels([{ text: "sea", x: 1, y: 2, level: 1, row: 3, score: 0.5 }, { text: "", x: 1, y: 1 },
    { text: "a", x: NaN, y: 1 }, null, { text: "b", x: 0, y: 0, level: -2 }]);
  assert.deepEqual(got, [{ text: "sea", x: 1, y: 2, level: 1, row: 3, score: 0.5 }, { text: "b", x: 0, y: 0, level: 0, row: NaN, score: 0 }]);
  assert.deepEqual(readLabels("nope"), []);
});

test("levelFor: one level per doubling of the zoom past the fit", () => {
  assert.equal(levelFor(10, 10, 3), 0);
  assert.equal(levelFor(20, 10, 3), 1);
  assert.equal(levelFor(40, 10, 3), 2);
  assert.equal(levelFor(1000, 10, 3), 3);
  assert.equal(levelFor(5, 10, 3), 0);
});

test("labelY puts a label on the grid line nearest it, inside the map", () => {
  assert.equal(labelY(2.5, 6), 3); // a cell's middle moves to a line between two rows
  assert.equal(labelY(2.4, 6), 2);
  assert.equal(labelY(0.5, 6), 1); // never on the map's top or bottom border
  assert.equal(labelY(5.9, 6), 5);
  assert.equal(labelY(0.5, 1), 1); // a one-row map: its bottom edge
});

test("placeLabels drops the weaker of two overlapping labels", () => {
  const kept = placeLabels([
    { text: "weak", x: 100, y: 100, w: 60, h: 20, score: 0.1 },
    { text: "strong", x: 110, y: 105, w: 60, h: 20, score: 0.9 },
    { text: "far", x: 400, y: 100, w: 60, h: 20, score: 0.05 },
  ]);
  assert.deepEqual(kept.map((k) => k.text), ["strong", "far"]);
});

test("filterFrom builds lib.where's arguments from the controls", () => {
  assert.deepEqual(filterFrom({ folder: "", from: "", to: "", camera: "", tag: "", keyword: " " }), {});
  assert.deepEqual(filterFrom({ folder: "/a", from: "2023-01-01", to: "", camera: "Canon", tag: "keep", keyword: "cat" }),
    { folder: "/a", taken: ["2023-01-01", null], camera: ["Canon"], tags: ["keep"], keywords: ["cat"] });
});

test("mask bits follow np.packbits order and dim only filtered-out cells", () => {
  const mask = /** @type {Uint8Array} */ (readMask(new DataView(new Uint8Array([0b10100000]).buffer)));
  assert.deepEqual([0, 1, 2, 3].map((r) => matches(mask, r)), [1, 0, 1, 0]);
  assert.equal(readMask(new DataView(new ArrayBuffer(0))), null);
  const px = dimPixels(mask, [0, 0, 0, 1, 1, 0, 1, 1], 4, 2, 2);
  assert.deepEqual([3, 7, 11, 15].map((i) => px[i]), [0, 255, 0, 255]);
  assert.equal(countText(null, 10), "");
  assert.equal(countText(1234, 7590), "1,234 of 7,590 match");
});

test("drop refuses what is not an image or too large", () => {
  assert.equal(refusal({ name: "a.jpg", type: "image/jpeg", size: 10 }), "");
  assert.equal(refusal({ name: "x.heic", type: "", size: 10 }), "");
  assert.match(refusal({ name: "a.txt", type: "text/plain", size: 10 }), /not an image/);
  assert.match(refusal({ name: "a.png", type: "image/png", size: MAX_BYTES + 1 }), /larger/);
  assert.match(refusal({ name: "a.png", type: "image/png", size: 0 }), /empty/);
  assert.equal(spaceFor("semantic"), "semantic");
  assert.equal(spaceFor("colour"), "visual");
});

test("hitText says how many match and how many are shown", () => {
  assert.equal(hitText("blue", "", 24, 312), "24 of 312 for “blue”");
  assert.equal(hitText("blue", "", 3, 3), "3 hits for “blue”");
  assert.equal(hitText("blue", "", 24, 0), "no match for “blue” · 24 nearest");
  assert.equal(hitText("", "", 5, null, "image cat.jpg"), "5 most like image cat.jpg");
  assert.equal(moreK(24, 312, 24), 48);
  assert.equal(moreK(24, 30, 24), 30);
  assert.equal(moreK(24, 24, 24), 0);
  assert.equal(moreK(24, null, 24), 0);
});
