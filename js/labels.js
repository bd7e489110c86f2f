// Region labels (semantic zoom): the words of the `labels` trait drawn over the map, a few
// large ones at the overview and finer levels as you zoom in (one level per doubling of the
// zoom past the fit). White text with a dark halo stays readable on any thumbnail; labels that
// would overlap are dropped, best score first. A label sits on the grid line between two rows of
// cells, so where the cells are taller than the text the thumbnails' middles stay visible, and its
// canvas lies under the overlay: rings, hover and search dimming, the lasso stay on top.

import { fitView } from "./view.js";
import { canvasLayer } from "./layer.js";

/** @typedef {import("./types").View} View @typedef {import("./types").MapLabel} MapLabel */
/** @typedef {{text: string, x: number, y: number, w: number, h: number, score: number}} Placed */

/**
 * Labels of the `labels` trait that are well formed (text, finite x/y, level >= 0).
 * @param {unknown} value @returns {MapLabel[]}
 */
export function readLabels(value) {
  /** @type {MapLabel[]} */
  const out = [];
  for (const l of Array.isArray(value) ? value : []) {
    if (!l || typeof l.text !== "string" || !l.text) continue;
    if (!Number.isFinite(l.x) || !Number.isFinite(l.y)) continue;
    const level = Number.isInteger(l.level) && l.level >= 0 ? l.level : 0;
    out.push({ text: l.text, x: l.x, y: l.y, level, row: Number(l.row), score: Number.isFinite(l.score) ? l.score : 0 });
  }
  return out;
}

/**
 * The level to show: 0 at the fitted overview, +1 per doubling of the zoom, at most `maxLevel`.
 * @param {number} scale @param {number} fitScale @param {number} maxLevel @returns {number}
 */
export function levelFor(scale, fitScale, maxLevel) {
  if (!(fitScale > 0) || !(scale > 0)) return 0;
  const level = Math.floor(Math.log2(scale / fitScale) + 0.35);
  return Math.max(0, Math.min(maxLevel, level));
}

/**
 * Keep the labels that do not overlap one already kept (best score first), `pad` px apart.
 * @param {Placed[]} items boxes centred on (x, y) @param {number} [pad] @returns {Placed[]}
 */
export function placeLabels(items, pad = 4) {
  /** @type {Placed[]} */
  const kept = [];
  for (const it of [...items].sort((a, b) => b.score - a.score)) {
    const hit = kept.some((k) => Math.abs(k.x - it.x) * 2 < k.w + it.w + 2 * pad
      && Math.abs(k.y - it.y) * 2 < k.h + it.h + 2 * pad);
    if (!hit) kept.push(it);
  }
  return kept;
}

/**
 * The label's y on the map (cell units): the horizontal grid line nearest `y`, inside the map
 * (lines 1 … rows − 1) when it has at least two rows, so the text runs between two rows of
 * thumbnails rather than across their middles.
 * @param {number} y @param {number} rows @returns {number}
 */
export function labelY(y, rows) {
  const line = Math.round(y);
  return rows >= 2 ? Math.max(1, Math.min(rows - 1, line)) : line;
}

/** Font px of a label level (the overview's are largest). @param {number} level */
export const fontPx = (level) => Math.max(12, 18 - 2 * level);

/**
 * Draw the labels of the level the view calls for.
 * @param {CanvasRenderingContext2D} ctx @param {MapLabel[]} labels @param {View} view
 * @param {{w: number, h: number}} size @param {number} fitScale @param {number} rows the map's rows
 * @returns {Placed[]} what was drawn
 */
export function drawLabels(ctx, labels, view, size, fitScale, rows) {
  if (!labels.length) return [];
  const maxLevel = Math.max(...labels.map((l) => l.level));
  const level = levelFor(view.scale, fitScale, maxLevel);
  const px = fontPx(level);
  ctx.font = `bold ${px}px system-ui, sans-serif`;
  /** @type {Placed[]} */
  const items = [];
  for (const l of labels) {
    if (l.level !== level) continue;
    const x = l.x * view.scale + view.tx, y = labelY(l.y, rows) * view.scale + view.ty;
    if (x < -200 || y < -50 || x > size.w + 200 || y > size.h + 50) continue;
    items.push({ text: l.text, x, y, w: ctx.measureText(l.text).width + 8, h: px + 6, score: l.score });
  }
  const kept = placeLabels(items);
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.lineJoin = "round";
  for (const it of kept) {
    ctx.lineWidth = 4;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.85)";
    ctx.strokeText(it.text, it.x, it.y);
    ctx.fillStyle = "#fff";
    ctx.fillText(it.text, it.x, it.y);
  }
  return kept;
}

/**
 * The labels layer: a canvas between the map (with the filter's dimming) and the overlay (inserted
 * before `before`), redrawn with the view and the `labels` trait. `data-labels` on the canvas says
 * how many labels are drawn (tests read it).
 * @param {{model: import("./types").Model, stage: HTMLElement, before: Element | null, store: import("./store").Store<import("./types").MapState>,
 *   size: () => import("./types").Size, grid: {rows: number, cols: number}}} deps
 */
export function labelsLayer({ model, stage, before, store, size, grid }) {
  let labels = readLabels(model.get("labels"));
  const layer = canvasLayer({
    stage, before, className: "vv-labels", store, size,
    draw(ctx, st, sz) {
      const fit = fitView(grid.rows, grid.cols, sz.w, sz.h).scale;
      const drawn = drawLabels(ctx, labels, st.view, sz, fit, grid.rows);
      layer.canvas.dataset.labels = String(drawn.length);
    },
  });
  const changed = () => { labels = readLabels(model.get("labels")); layer.request(); };
  model.on("change:labels", changed);
  return {
    request: layer.request,
    dispose() { model.off("change:labels", changed); layer.dispose(); },
  };
}
