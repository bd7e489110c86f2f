import assert from "node:assert/strict";
import { test } from "node:test";
import { CellTween, TWEEN_MAX_N, TWEEN_MS, ease, interpolateCells, shouldTween } from "../tween.js";

test("interpolateCells: from at 0, to at 1, straight line between", () => {
  const from = Int32Array.from([0, 0, 4, 2]), to = Int32Array.from([2, 4, 0, 2]);
  assert.deepEqual([...interpolateCells(from, to, 0)], [0, 0, 4, 2]);
  assert.deepEqual([...interpolateCells(from, to, 1)], [2, 4, 0, 2]);
  assert.deepEqual([...interpolateCells(from, to, 0.5)], [1, 2, 2, 2]);
  const out = new Float32Array(4);
  assert.equal(interpolateCells(from, to, 0.25, out), out); // reuses the buffer
});

test("ease: 0 -> 0, 1 -> 1, monotone, clamped", () => {
  assert.equal(ease(0), 0);
  assert.equal(ease(1), 1);
  assert.equal(ease(2), 1);
  assert.ok(ease(0.25) < ease(0.5) && ease(0.5) < ease(0.75));
  assert.ok(ease(0.5) > 0.5); // eases out
});

test("CellTween lands on the new cells after TWEEN_MS", () => {
  const tw = new CellTween(Int32Array.from([0, 0]), Int32Array.from([10, 20]), 1000);
  const mid = tw.at(1000 + TWEEN_MS / 2);
  assert.equal(mid.done, false);
  assert.ok(mid.pos[0] > 5 && mid.pos[0] < 10 && mid.pos[1] > 10 && mid.pos[1] < 20);
  const end = tw.at(1000 + TWEEN_MS);
  assert.equal(end.done, true);
  assert.deepEqual([...end.pos], [10, 20]);
});

test("shouldTween: same images only, bounded size, never with reduced motion", () => {
  const a = new Int32Array(6), b = new Int32Array(6);
  assert.equal(shouldTween(a, b, 3, 3), true);
  assert.equal(shouldTween(a, new Int32Array(8), 4, 3), false);
  assert.equal(shouldTween(new Int32Array(2 * (TWEEN_MAX_N + 1)), new Int32Array(2 * (TWEEN_MAX_N + 1)), TWEEN_MAX_N + 1, TWEEN_MAX_N + 1), false);
  const had = globalThis.matchMedia;
  globalThis.matchMedia = /** @type {any} */ ((q) => ({ matches: q.includes("reduce") }));
  try {
    assert.equal(shouldTween(a, b, 3, 3), false);
  } finally {
    globalThis.matchMedia = had;
  }
});
