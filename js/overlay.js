// The overlay layer: selection, search highlights, the Shift+Hover neighbourhood and the box
// being dragged. It is redrawn on its own canvas, so Shift+Hover costs O(k), not O(N).
// Pure drawing and selection logic first, then `marks`, which owns the store's `selected`,
// `highlighted` and `hover` and keeps them in step with the traits (`selected`, `highlighted`,
// `hovered`, `_table`, `k`).

import { fromWire } from "./codecs.js";
import { record } from "./debug.js";

/** @typedef {import("./types").View} View @typedef {import("./types").Rect} Rect */
/** @typedef {import("./types").Theme} Theme @typedef {import("./types").Neighbour} Neighbour */
/** @typedef {import("./types").Hover} Hover @typedef {import("./types").Box} Box */
/** @typedef {import("./types").MapState} MapState @typedef {import("./types").Model} Model */
/** @typedef {import("./types").Point} Point */
/**
 * @typedef {object} OverlayState
 * @property {View} view
 * @property {number} w
 * @property {number} h
 * @property {Theme} theme
 * @property {ArrayLike<number>} cells
 * @property {Set<number>} selected
 * @property {number[]} highlighted rows of the search / colour search / w.highlight, in rank order
 * @property {Hover | null} hover
 * @property {Box | null} box
 * @property {Point[] | null} [lasso] the lasso being drawn, in stage px
 * @property {number} pointed
 * @property {(ctx: CanvasRenderingContext2D, row: number, x: number, y: number, s: number) => void} drawTile
 */

/**
 * New selection after a click/box/lasso hitting `hits`: replace, add (union), subtract or toggle.
 * @param {number[]} current @param {number[]} hits @param {"replace"|"add"|"subtract"|"toggle"} how
 * @returns {number[]}
 */
export function applySelection(current, hits, how) {
  if (how === "replace") return [...new Set(hits)];
  const set = new Set(current);
  if (how === "add") {
    for (const h of hits) set.add(h);
  } else if (how === "subtract") {
    for (const h of hits) set.delete(h);
  } else if (how === "toggle") {
    for (const h of hits) (set.has(h) ? set.delete(h) : set.add(h));
  } else {
    throw new Error(`unknown selection mode ${how}`);
  }
  return [...set];
}

/**
 * The first k neighbours of `row` from an N × width table, as {row, rank (1-based), score}.
 * @param {ArrayLike<number>} idx @param {ArrayLike<number>} scores @param {number} width
 * @param {number} row @param {number} k @returns {Neighbour[]}
 */
export function neighboursOf(idx, scores, width, row, k) {
  /** @type {Neighbour[]} */
  const out = [];
  if (!idx || width <= 0 || row < 0 || (row + 1) * width > idx.length) return out;
  const m = Math.min(k, width);
  for (let j = 0; j < m; j++) {
    const r = idx[row * width + j];
    if (r >= 0 && r !== row) out.push({ row: r, rank: out.length + 1, score: scores[row * width + j] });
  }
  return out;
}

/**
 * Screen rect of a row's cell, at least `minPx` wide so markers stay visible when zoomed out.
 * @param {View} view @param {ArrayLike<number>} cells @param {number} row @returns {Rect}
 */
export function markerRect(view, cells, row, minPx = 0) {
  const s = view.scale;
  const x = cells[2 * row + 1] * s + view.tx, y = cells[2 * row] * s + view.ty;
  if (s >= minPx) return { x, y, s };
  const d = (minPx - s) / 2;
  return { x: x - d, y: y - d, s: minPx };
}

/**
 * A filled badge with `text`; `corner` "tl" puts it in the cell's top-left, "br" bottom-right.
 * @param {CanvasRenderingContext2D} ctx @param {string} text @param {number} x @param {number} y
 * @param {Theme} theme @param {{corner?: string, cell?: number, px?: number, bold?: boolean}} [opts]
 */
function label(ctx, text, x, y, theme, { corner = "tl", cell = 0, px = 11, bold = true } = {}) {
  ctx.font = `${bold ? "bold " : ""}${px}px system-ui, sans-serif`;
  const w = Math.ceil(ctx.measureText(text).width) + 6, hgt = px + 4;
  const bx = corner === "br" ? x + cell - w : x, by = corner === "br" ? y + cell - hgt : y;
  ctx.fillStyle = theme.accent;
  ctx.fillRect(bx, by, w, hgt);
  ctx.fillStyle = theme.onAccent;
  ctx.textBaseline = "alphabetic";
  ctx.fillText(text, bx + 3, by + px);
}

/** Badges of a Shift+Hover neighbour: rank (top-left) and, when the cell has room, the cosine
 * score (bottom-right), so both stay readable and never cover the middle of the image.
 * @param {number} rank @param {number} score @param {number} cellPx
 * @returns {Array<{text: string, corner: string, px: number, bold?: boolean}>}
 */
export function neighbourBadges(rank, score, cellPx) {
  if (cellPx < 14) return [];
  /** @type {Array<{text: string, corner: string, px: number, bold?: boolean}>} */
  const out = [{ text: String(rank), corner: "tl", px: cellPx >= 40 ? 12 : 10 }];
  if (cellPx >= 36) out.push({ text: score.toFixed(2), corner: "br", px: cellPx >= 64 ? 11 : 10, bold: false });
  return out;
}

/**
 * Draw the overlay. Search hits dim the rest of the map (like Shift+Hover does) so a few
 * matches among thousands of tiles stand out.
 * @param {CanvasRenderingContext2D} ctx @param {OverlayState} st
 */
export function drawOverlay(ctx, st) {
  const { view, theme, cells } = st;
  ctx.clearRect(0, 0, st.w, st.h);
  if (!cells || cells.length === 0) return;
  const inView = (/** @type {Rect} */ r) => r.x + r.s >= 0 && r.y + r.s >= 0 && r.x <= st.w && r.y <= st.h;
  const big = view.scale >= 14;

  // Search / colour / scripted highlights: the rest dims, hits are redrawn and numbered in rank order.
  if (st.highlighted.length && !st.hover) {
    ctx.fillStyle = theme.dim;
    ctx.fillRect(0, 0, st.w, st.h);
  }
  st.highlighted.forEach((row, i) => {
    const r = markerRect(view, cells, row, 8);
    if (!inView(r)) return;
    if (!st.hover) st.drawTile(ctx, row, r.x, r.y, r.s);
    ctx.lineWidth = 2;
    ctx.strokeStyle = theme.accent;
    ctx.strokeRect(r.x + 1, r.y + 1, r.s - 2, r.s - 2);
    if (big && !st.hover) label(ctx, String(i + 1), r.x, r.y, theme);
  });

  // Selection: a two-tone ring (dark outside, light inside) that shows on any thumbnail colour.
  if (st.selected.size) {
    /** @type {Rect[]} */
    const rects = [];
    for (const row of st.selected) {
      const r = markerRect(view, cells, row, 8);
      if (inView(r)) rects.push(r);
    }
    for (const [colour, inset, width] of SELECT_RING) {
      ctx.lineWidth = width;
      ctx.strokeStyle = colour;
      ctx.beginPath();
      for (const r of rects) ctx.rect(r.x + inset, r.y + inset, r.s - 2 * inset, r.s - 2 * inset);
      ctx.stroke();
    }
  }

  if (st.hover && st.hover.row >= 0) {
    // Dim everything, then redraw the hovered image and its neighbours at full strength.
    ctx.fillStyle = theme.dim;
    ctx.fillRect(0, 0, st.w, st.h);
    const { row, nbrs } = st.hover;
    for (const nb of nbrs) {
      const r = markerRect(view, cells, nb.row, 10);
      if (!inView(r)) continue;
      st.drawTile(ctx, nb.row, r.x, r.y, r.s);
      ctx.lineWidth = 2;
      ctx.strokeStyle = theme.accent;
      ctx.strokeRect(r.x + 1, r.y + 1, r.s - 2, r.s - 2);
      for (const bd of neighbourBadges(nb.rank, nb.score, r.s)) label(ctx, bd.text, r.x, r.y, theme, { ...bd, cell: r.s });
    }
    const r = markerRect(view, cells, row, 12);
    st.drawTile(ctx, row, r.x, r.y, r.s);
    ctx.lineWidth = 3;
    ctx.strokeStyle = theme.ring;
    ctx.strokeRect(r.x - 1.5, r.y - 1.5, r.s + 3, r.s + 3);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = theme.accent;
    ctx.strokeRect(r.x - 4, r.y - 4, r.s + 8, r.s + 8);
  } else if (st.pointed >= 0) {
    const r = markerRect(view, cells, st.pointed, 6);
    ctx.lineWidth = 1;
    ctx.strokeStyle = theme.fg;
    ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.s - 1, r.s - 1);
  }

  if (st.box) {
    const { x0, y0, x1, y1 } = st.box;
    ctx.beginPath();
    ctx.rect(Math.min(x0, x1) + 0.5, Math.min(y0, y1) + 0.5, Math.abs(x1 - x0), Math.abs(y1 - y0));
    twoTonePath(ctx, theme);
  }
  if (st.lasso && st.lasso.length > 1) {
    ctx.beginPath();
    st.lasso.forEach((p, i) => (i ? ctx.lineTo(p.x, p.y) : ctx.moveTo(p.x, p.y)));
    ctx.closePath();
    twoTonePath(ctx, theme);
  }
}

/** The selection ring: [colour, inset px, line width] strokes, dark outside then light inside. */
export const SELECT_RING = /** @type {Array<[string, number, number]>} */ ([
  ["rgba(0,0,0,0.85)", 1, 2],
  ["#ffffff", 3, 2],
]);

/**
 * Fill the current path lightly and stroke it dark then light (dashed), visible on any image.
 * @param {CanvasRenderingContext2D} ctx @param {Theme} theme
 */
function twoTonePath(ctx, theme) {
  ctx.fillStyle = theme.boxFill;
  ctx.fill();
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(0,0,0,0.85)";
  ctx.setLineDash([]);
  ctx.stroke();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#ffffff";
  ctx.setLineDash([5, 3]);
  ctx.stroke();
  ctx.setLineDash([]);
}

/**
 * The neighbour table of the `_table` trait ({idx, scores} arrays, N × width); an empty table
 * when the arrays are missing or disagree.
 * @param {any} table @returns {{idx: Int32Array, scores: Float32Array, width: number}}
 */
export function readTable(table) {
  const idx = fromWire(table?.idx), scores = fromWire(table?.scores);
  const ok = idx.shape.length === 2 && idx.data instanceof Int32Array && scores.data instanceof Float32Array
    && scores.data.length === idx.data.length;
  return ok ? { idx: /** @type {Int32Array} */ (idx.data), scores: /** @type {Float32Array} */ (scores.data), width: idx.shape[1] }
    : { idx: new Int32Array(0), scores: new Float32Array(0), width: 0 };
}

/**
 * What the map marks: the selection, the highlights and the Shift+Hover neighbourhood, in the
 * store and in step with the model (an echo guard keeps our own `hovered` from coming back).
 * @param {{model: Model, store: import("./store").Store<MapState>,
 *   stats: import("./debug").Stats | null}} deps
 */
export function marks({ model, store, stats }) {
  let table = readTable(model.get("_table"));
  /** @type {number | null} */
  let lastSentHover = model.get("hovered");

  /**
   * Show `row`'s neighbours (null/-1: none); `sync` tells the kernel (trait `hovered`).
   * @param {number | null | undefined} row @param {boolean} [sync] @param {Event | null} [event]
   */
  function setHover(row, sync = true, event = null) {
    const tWork = performance.now();
    const t0 = event ? Math.min(event.timeStamp, tWork) : tWork;
    if (row === undefined || row === null || row < 0) {
      if (!store.get().hover) return;
      store.set({ hover: null });
    } else {
      store.set({ hover: { row, nbrs: neighboursOf(table.idx, table.scores, table.width, row, model.get("k")) } });
    }
    const tEnd = performance.now();
    record(stats, "hoverMs", tEnd - t0);
    record(stats, "hoverWorkMs", tEnd - tWork);
    if (!sync) return;
    const { hover } = store.get();
    const value = hover ? hover.row : null;
    if (value !== lastSentHover) {
      lastSentHover = value;
      model.set("hovered", value);
      model.save_changes();
    }
  }

  /** Recompute the hovered row's neighbours (new table or k). */
  const rehover = () => {
    const { hover } = store.get();
    if (hover) setHover(hover.row, false);
  };

  return {
    setHover,
    rehover,
    /** The user selected `rows`. @param {number[]} rows */
    select(rows) {
      store.set({ selected: new Set(rows) });
      model.set("selected", [...store.get().selected]);
      model.save_changes();
    },
    /** Esc / ✕: clear the search and the highlights. */
    clearHighlights() {
      store.set({ highlighted: [] });
      model.set("query", "");
      model.set("colour_query", "");
      model.set("highlighted", []);
      model.save_changes();
    },
    /** Trait `_table` changed. */
    tableChanged() {
      table = readTable(model.get("_table"));
      rehover();
    },
    /** Trait `selected` changed. */
    selectedChanged() {
      store.set({ selected: new Set(model.get("selected")) });
    },
    /** Trait `highlighted` changed. */
    highlightedChanged() {
      store.set({ highlighted: model.get("highlighted") });
    },
    /** Trait `hovered` changed (from Python, or our own change coming back). */
    hoveredChanged() {
      const v = model.get("hovered");
      if (v === lastSentHover) return;
      lastSentHover = v;
      setHover(v === null ? -1 : v, false);
    },
  };
}
