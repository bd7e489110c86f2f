// Lasso hit-testing: which rows have their cell centre inside a freeform polygon. Pure maths on
// plain arrays (world units are grid cells, as in view.js), so it is unit-tested without a DOM.

/** @typedef {import("./types").Point} Point @typedef {import("./types").View} View */

/**
 * Whether (x, y) lies inside `poly` (even-odd rule; the closing edge is implied). A polygon of
 * fewer than 3 points encloses nothing.
 * @param {number} x @param {number} y @param {Point[]} poly @returns {boolean}
 */
export function pointInPolygon(x, y, poly) {
  let inside = false;
  const n = poly.length;
  if (n < 3) return false;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const a = poly[i], b = poly[j];
    if ((a.y > y) !== (b.y > y) && x < ((b.x - a.x) * (y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/**
 * Screen points (stage px) -> world points (cells) under `view`.
 * @param {Point[]} pts @param {View} view @returns {Point[]}
 */
export function toWorld(pts, view) {
  return pts.map((p) => ({ x: (p.x - view.tx) / view.scale, y: (p.y - view.ty) / view.scale }));
}

/**
 * Rows whose cell centre (c + 0.5, r + 0.5) lies inside the world polygon `poly`, row-major.
 * Only the cells of the polygon's bounding box (clamped to the grid) are tested.
 * @param {ArrayLike<number>} index cell -> row or -1 (hit.js buildCellIndex)
 * @param {number} rows @param {number} cols @param {Point[]} poly @returns {number[]}
 */
export function rowsInLasso(index, rows, cols, poly) {
  /** @type {number[]} */
  const out = [];
  if (poly.length < 3) return out;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of poly) {
    x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x);
    y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y);
  }
  const r0 = Math.max(0, Math.floor(y0 - 0.5)), r1 = Math.min(rows - 1, Math.ceil(y1 - 0.5));
  const c0 = Math.max(0, Math.floor(x0 - 0.5)), c1 = Math.min(cols - 1, Math.ceil(x1 - 0.5));
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const row = index[r * cols + c];
      if (row >= 0 && pointInPolygon(c + 0.5, r + 0.5, poly)) out.push(row);
    }
  }
  return out;
}

/**
 * The lasso path with `p` appended unless it is closer than `minPx` to the last point (keeps
 * the path short on slow drags). Returns the same array when nothing was added.
 * @param {Point[]} path @param {Point} p @returns {Point[]}
 */
export function extendPath(path, p, minPx = 2) {
  const last = path.at(-1);
  if (last && Math.hypot(p.x - last.x, p.y - last.y) < minPx) return path;
  return [...path, p];
}
