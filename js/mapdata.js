// The map's data from the synced traits: the grid shape, each image's cell and average colour
// (`_grid`, `_cells`, `_colours`), loaded into the renderer.

import { fromWire } from "./codecs.js";

/** A grid that grows by at most this share per side keeps the view (images added in place). */
export const GROWTH_KEEPS_VIEW = 0.25;

/**
 * Whether a grid change from (r0, c0) to (r1, c1) needs the view fitted again: any change but
 * a small growth (an incremental refresh adds a row or column for new images: every old cell
 * keeps its place, so the zoom and pan stay).
 * @param {number} r0 @param {number} c0 @param {number} r1 @param {number} c1 @returns {boolean}
 */
export function needsFit(r0, c0, r1, c1) {
  if (r0 === r1 && c0 === c1) return false;
  const grows = (/** @type {number} */ a, /** @type {number} */ b) => b >= a && b <= a * (1 + GROWTH_KEEPS_VIEW);
  return !(grows(r0, r1) && grows(c0, c1));
}

/**
 * Load the cells and colours into `grid`; returns the number of images and whether the grid's
 * shape changed enough that the view must fit the new map (`needsFit`).
 * @param {import("./types").Model} model @param {import("./grid").GridRenderer} grid
 * @returns {{n: number, newGrid: boolean}}
 */
export function loadCells(model, grid) {
  const wire = fromWire(model.get("_cells")); // {data, shape}: N comes with the bytes
  const n = wire.shape.length === 2 && wire.shape[1] === 2 ? wire.shape[0] : 0;
  const [rows, cols] = model.get("_grid");
  const cells = Int32Array.from(wire.data.subarray(0, 2 * n));
  const newGrid = needsFit(grid.rows, grid.cols, Math.max(rows, 1), Math.max(cols, 1));
  grid.setCells(cells, n, rows, cols, Uint8Array.from(fromWire(model.get("_colours")).data));
  return { n, newGrid };
}
