// Large thumbnails outside the map (the neighbour panel, the duplicate review): a canvas per
// image drawn from the map's own tiles (grid.drawTile: the sharp thumbnail once it arrived, the
// atlas tile until then), and the requests for the sharp ones (the protocol's `thumbs`).

import { sharpSize } from "./requests.js";

/** @typedef {import("./types").Model} Model */

const MAX_ROWS = 256; // protocol.MAX_ROWS_PER_REQUEST

/**
 * A canvas of `px` CSS px for `row` (data-row set), to be painted with `paintThumb`.
 * @param {number} row @param {number} px @returns {HTMLCanvasElement}
 */
export function thumbCanvas(row, px) {
  const c = document.createElement("canvas");
  c.className = "vv-thumb";
  c.dataset.row = String(row);
  c.style.width = `${px}px`;
  c.style.height = `${px}px`;
  return c;
}

/**
 * Paint `canvas` (made by thumbCanvas) with its row's best tile, unless it already shows it.
 * @param {HTMLCanvasElement} canvas @param {import("./grid").GridRenderer} grid @param {number} dpr
 */
export function paintThumb(canvas, grid, dpr) {
  const row = Number(canvas.dataset.row);
  const px = parseFloat(canvas.style.width) || 96;
  const have = `${grid.sharp.get(row)?.size ?? 0}/${grid.atlases.filter(Boolean).length}/${dpr}`;
  if (canvas.dataset.drawn === have) return;
  canvas.dataset.drawn = have;
  canvas.width = Math.round(px * dpr);
  canvas.height = Math.round(px * dpr);
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  grid.drawTile(ctx, row, 0, 0, px, dpr);
}

/**
 * Rows of `rows` without a sharp thumbnail of at least `size` px, in requests of at most 256.
 * @param {Iterable<number>} rows @param {Map<number, {size: number}>} sharp @param {number} size
 * @returns {number[][]}
 */
export function missingSharp(rows, sharp, size) {
  const want = [...new Set(rows)].filter((r) => r >= 0 && (sharp.get(r)?.size ?? 0) < size);
  /** @type {number[][]} */
  const out = [];
  for (let i = 0; i < want.length; i += MAX_ROWS) out.push(want.slice(i, i + MAX_ROWS));
  return out;
}

/**
 * Ask the kernel for sharp thumbnails of `rows` shown `px` CSS px wide (once per row and size).
 * @param {Model} model @param {import("./grid").GridRenderer} grid @param {number[]} rows
 * @param {number} px @param {number} dpr @param {number[]} sizes the `_sharp_sizes` trait
 * @param {Set<string>} asked rows already asked for, as "row/size"
 */
export function askSharp(model, grid, rows, px, dpr, sizes, asked) {
  const size = sharpSize(px * dpr, sizes);
  if (!size) return;
  const fresh = rows.filter((r) => !asked.has(`${r}/${size}`));
  for (const chunk of missingSharp(fresh, grid.sharp, size)) {
    chunk.forEach((r) => asked.add(`${r}/${size}`));
    model.send({ type: "thumbs", rows: chunk, size, req: 0 });
  }
}
