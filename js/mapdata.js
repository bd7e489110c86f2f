// The map's data from the synced traits: the grid shape, each image's cell and average colour
// (`_grid`, `_cells`, `_colours`), loaded into the renderer.

import { fromWire } from "./codecs.js";

/**
 * Load the cells and colours into `grid`; returns the number of images and whether the grid's
 * shape changed (the view must then fit the new map).
 * @param {import("./types").Model} model @param {import("./grid").GridRenderer} grid
 * @returns {{n: number, newGrid: boolean}}
 */
export function loadCells(model, grid) {
  const wire = fromWire(model.get("_cells")); // {data, shape}: N comes with the bytes
  const n = wire.shape.length === 2 && wire.shape[1] === 2 ? wire.shape[0] : 0;
  const [rows, cols] = model.get("_grid");
  const cells = Int32Array.from(wire.data.subarray(0, 2 * n));
  const newGrid = grid.rows !== Math.max(rows, 1) || grid.cols !== Math.max(cols, 1);
  grid.setCells(cells, n, rows, cols, Uint8Array.from(fromWire(model.get("_colours")).data));
  return { n, newGrid };
}
