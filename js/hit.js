// Hit-testing: which library row sits in a grid cell, and which rows fall inside a box.

/** @typedef {import("./types").Cell} Cell */

/**
 * cells: (row, col) pairs for rows 0..n-1 -> Int32Array(rows*cols) of row ids or -1.
 * @param {ArrayLike<number>} cells @param {number} n @param {number} rows @param {number} cols
 * @returns {Int32Array}
 */
export function buildCellIndex(cells, n, rows, cols) {
  const index = new Int32Array(rows * cols).fill(-1);
  for (let i = 0; i < n; i++) {
    const r = cells[2 * i], c = cells[2 * i + 1];
    if (r >= 0 && r < rows && c >= 0 && c < cols) index[r * cols + c] = i;
  }
  return index;
}

/**
 * Row at cell (r, c) or -1 outside the grid / on an empty cell.
 * @param {ArrayLike<number>} index @param {number} rows @param {number} cols
 * @param {number} r @param {number} c @returns {number}
 */
export function rowAt(index, rows, cols, r, c) {
  if (r < 0 || c < 0 || r >= rows || c >= cols) return -1;
  return index[r * cols + c];
}

/**
 * Rows whose cells lie in the inclusive box spanned by two cells (any corner order), row-major.
 * @param {ArrayLike<number>} index @param {number} rows @param {number} cols
 * @param {Cell} a @param {Cell} b @returns {number[]}
 */
export function rowsInBox(index, rows, cols, a, b) {
  const r0 = Math.max(0, Math.min(a.r, b.r)), r1 = Math.min(rows - 1, Math.max(a.r, b.r));
  const c0 = Math.max(0, Math.min(a.c, b.c)), c1 = Math.min(cols - 1, Math.max(a.c, b.c));
  const out = [];
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const row = index[r * cols + c];
      if (row >= 0) out.push(row);
    }
  }
  return out;
}
