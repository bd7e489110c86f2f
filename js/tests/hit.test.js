import assert from "node:assert/strict";
import { test } from "node:test";
import { buildCellIndex, rowAt, rowsInBox } from "../hit.js";

// 4 rows placed on a 3×4 grid: row i at cells[i].
const placed = [[0, 0], [2, 3], [1, 1], [0, 3]];
const cells = Int32Array.from(placed.flat());

test("buildCellIndex maps every placed cell to its row and leaves others empty", () => {
  const idx = buildCellIndex(cells, 4, 3, 4);
  placed.forEach(([r, c], i) => assert.equal(idx[r * 4 + c], i));
  assert.equal([...idx].filter((v) => v === -1).length, 12 - 4);
});

test("rowAt returns -1 outside the grid and on empty cells", () => {
  const idx = buildCellIndex(cells, 4, 3, 4);
  assert.equal(rowAt(idx, 3, 4, 1, 1), 2);
  assert.equal(rowAt(idx, 3, 4, 1, 2), -1);
  assert.equal(rowAt(idx, 3, 4, -1, 0), -1);
  assert.equal(rowAt(idx, 3, 4, 0, 4), -1);
  assert.equal(rowAt(idx, 3, 4, 3, 0), -1);
});

test("rowsInBox matches a brute-force filter for every box, any corner order", () => {
  const idx = buildCellIndex(cells, 4, 3, 4);
  for (let r0 = -1; r0 <= 3; r0++) for (let c0 = -1; c0 <= 4; c0++) {
    for (let r1 = -1; r1 <= 3; r1++) for (let c1 = -1; c1 <= 4; c1++) {
      const got = rowsInBox(idx, 3, 4, { r: r0, c: c0 }, { r: r1, c: c1 }).sort();
      const want = placed.map(([r, c], i) => [r, c, i])
        .filter(([r, c]) => r >= Math.min(r0, r1) && r <= Math.max(r0, r1) && c >= Math.min(c0, c1) && c <= Math.max(c0, c1))
        .map(([, , i]) => i).sort();
      assert.deepEqual(got, want);
    }
  }
});
