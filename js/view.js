// The view: pan and zoom. The maths first (world units are grid cells: cell (r, c) spans
// [c, c+1) × [r, r+1); screen = world * scale + (tx, ty), in CSS pixels of the canvas), then
// viewControl, which owns the store's `view`, `autoFit`, `fittedHits` and `pendingFit`.

/** @typedef {import("./types").View} View @typedef {import("./types").Cell} Cell */
/** @typedef {import("./types").CellRange} CellRange @typedef {import("./types").ZoomLimits} ZoomLimits */

export const MIN_CELL_PX = 0.5;
export const MAX_CELL_PX = 512;

/**
 * View that fits a rows × cols grid centred in a w × h canvas with `pad` px margin.
 * @param {number} rows @param {number} cols @param {number} w @param {number} h
 * @returns {View}
 */
export function fitView(rows, cols, w, h, pad = 8) {
  const scale = Math.max(
    Math.min((w - 2 * pad) / Math.max(cols, 1), (h - 2 * pad) / Math.max(rows, 1)),
    1e-3,
  );
  return { scale, tx: (w - cols * scale) / 2, ty: (h - rows * scale) / 2 };
}

/**
 * Zoom bounds: out to the whole map (the fitted scale), in until one cell shows its sharpest
 * thumbnail at about 2× (beyond that a zoom only magnifies blur). The kernel lists only the sharp
 * sizes its images fill (`_sharp_sizes`): a library of 64-px emoji stops at 128 px per cell, not 512.
 * @param {number} rows @param {number} cols @param {number} w @param {number} h
 * @param {number} dpr device pixels per CSS pixel
 * @param {number} sharpest the sharpest thumbnail the kernel cuts (device px)
 * @returns {ZoomLimits}
 */
export function zoomLimits(rows, cols, w, h, dpr, sharpest) {
  const fit = fitView(rows, cols, w, h).scale;
  const max = (2 * sharpest) / Math.max(dpr, 1e-3);
  return { min: Math.min(fit, max), max: Math.max(fit, max) };
}

/**
 * Zoom by `factor` keeping the screen point (sx, sy) fixed; scale clamped to [min, max].
 * @param {View} view @param {number} factor @param {number} sx @param {number} sy
 * @returns {View}
 */
export function zoomAt(view, factor, sx, sy, min = MIN_CELL_PX, max = MAX_CELL_PX) {
  const scale = Math.min(max, Math.max(min, view.scale * factor));
  const k = scale / view.scale;
  return { scale, tx: sx - (sx - view.tx) * k, ty: sy - (sy - view.ty) * k };
}

/**
 * "Actual size" (the 1 key): the scale at which one pixel of the sharpest thumbnail is one device
 * pixel; for sources no larger than the sharpest thumbnail (icons, emoji) that is their own size.
 * @param {number} dpr @param {number} sharpest @returns {number} CSS px per cell
 */
export function actualScale(dpr, sharpest) {
  return sharpest / Math.max(dpr, 1e-3);
}

/**
 * The zoom indicator: the view's scale as a percentage of actual size ("100%" = 1:1).
 * @param {number} scale @param {number} dpr @param {number} sharpest @returns {string}
 */
export function zoomPercent(scale, dpr, sharpest) {
  const pct = (100 * scale) / actualScale(dpr, sharpest);
  return pct >= 10 ? `${Math.round(pct)}%` : `${pct.toFixed(1)}%`;
}

/** Pan by (dx, dy) screen px. @param {View} view @param {number} dx @param {number} dy @returns {View} */
export function panBy(view, dx, dy) {
  return { scale: view.scale, tx: view.tx + dx, ty: view.ty + dy };
}

/**
 * The view showing the bounding box of `rows`' cells, centred, within the zoom limits; null when
 * no row has a cell.
 * @param {ArrayLike<number>} cells (row, col) pairs @param {Iterable<number>} rows
 * @param {number} w @param {number} h @param {ZoomLimits} limits
 * @returns {View | null}
 */
export function fitRows(cells, rows, w, h, limits, pad = 24) {
  let r0 = Infinity, c0 = Infinity, r1 = -Infinity, c1 = -Infinity;
  for (const row of rows) {
    if (!(row >= 0) || 2 * row + 1 >= cells.length) continue;
    const r = cells[2 * row], c = cells[2 * row + 1];
    r0 = Math.min(r0, r); r1 = Math.max(r1, r);
    c0 = Math.min(c0, c); c1 = Math.max(c1, c);
  }
  if (r0 === Infinity) return null;
  const nr = r1 - r0 + 1, nc = c1 - c0 + 1;
  const fit = Math.min((w - 2 * pad) / nc, (h - 2 * pad) / nr);
  const scale = Math.min(limits.max, Math.max(limits.min, fit));
  return { scale, tx: w / 2 - (c0 + nc / 2) * scale, ty: h / 2 - (r0 + nr / 2) * scale };
}

/**
 * Screen point -> integer cell {r, c} (may lie outside the grid).
 * @param {View} view @param {number} sx @param {number} sy @returns {Cell}
 */
export function screenToCell(view, sx, sy) {
  return { r: Math.floor((sy - view.ty) / view.scale), c: Math.floor((sx - view.tx) / view.scale) };
}

/** Top-left screen position of cell (r, c). @param {View} view @param {number} r @param {number} c */
export function cellToScreen(view, r, c) {
  return { x: c * view.scale + view.tx, y: r * view.scale + view.ty };
}

/**
 * Inclusive range of grid cells visible in a w × h canvas, clamped to the grid.
 * @param {View} view @param {number} w @param {number} h @param {number} rows @param {number} cols
 * @returns {CellRange}
 */
export function visibleCells(view, w, h, rows, cols) {
  const a = screenToCell(view, 0, 0);
  const b = screenToCell(view, w - 1e-6, h - 1e-6);
  return {
    r0: Math.max(0, a.r), c0: Math.max(0, a.c),
    r1: Math.min(rows - 1, b.r), c1: Math.min(cols - 1, b.c),
  };
}

/** @typedef {import("./types").MapState} MapState @typedef {import("./types").Size} Size */

/**
 * The view of one widget: fit, zoom, pan and fit-to-hits, written to the store (the painter
 * redraws on a change).
 * @param {{store: import("./store").Store<MapState>, grid: {rows: number, cols: number,
 *   cells: ArrayLike<number>, tile: number}, size: () => Size}} deps
 */
export function viewControl({ store, grid, size }) {
  /** The sharpest thumbnail the map may show (device px). */
  function sharpest() {
    return Math.max(grid.tile, ...store.get().sharpSizes);
  }

  /** Zoom bounds: the whole map .. a cell at 2× its sharpest thumbnail. */
  function limits() {
    const { w, h } = size();
    return zoomLimits(grid.rows, grid.cols, w, h, store.get().dpr, sharpest());
  }

  /** The whole map, following the stage and grid from now on. */
  function fit() {
    const { w, h } = size();
    store.set({ view: fitView(grid.rows, grid.cols, w, h), autoFit: true, fittedHits: false });
  }

  /** A view the user chose (zoom, pan). @param {View} view */
  function setView(view) {
    store.set({ view, autoFit: false, fittedHits: false });
  }

  /** @param {number} f @param {number} x @param {number} y */
  function zoomBy(f, x, y) {
    const lim = limits();
    setView(zoomAt(store.get().view, f, x, y, lim.min, lim.max));
  }

  /** Zoom about the stage's centre. @param {number} f */
  function zoomCentre(f) {
    const { w, h } = size();
    zoomBy(f, w / 2, h / 2);
  }

  /** The highlighted rows' bounding box (no-op without hits). */
  function fitHits() {
    const { w, h } = size();
    const view = fitRows(grid.cells, store.get().highlighted, w, h, limits());
    if (view) store.set({ view, autoFit: false, fittedHits: true });
  }

  /** 1:1 about the stage's centre (see actualScale). */
  function actualSize() {
    zoomCentre(actualScale(store.get().dpr, sharpest()) / store.get().view.scale);
  }

  return {
    limits, fit, setView, zoomBy, zoomCentre, fitHits, actualSize, sharpest,
    /** ⤢: the hits when there are some and they are not shown yet, else the whole map. */
    fitToggle() {
      const { highlighted, fittedHits } = store.get();
      if (highlighted.length && !fittedHits) fitHits();
      else fit();
    },
    /** Hits arrived: fit to them if a search was started here. */
    hitsArrived() {
      if (store.get().pendingFit && store.get().highlighted.length) fitHits();
      store.set({ pendingFit: false });
    },
  };
}
