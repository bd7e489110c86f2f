// The overview's tile pyramid (built by the kernel, vectorvision_widget/thumbs/pyramid.py): each
// level is the whole map at `cell` px per grid cell, cut into `side`-px JPEG mosaics. Zoomed out,
// the map is drawn from the few mosaics covering the view at the level whose cell is just larger
// than a screen pixel: a handful of drawImage calls at any N, instead of one per image.

/** @typedef {import("./types").View} View @typedef {import("./types").MosaicsReply} MosaicsReply */
/** @typedef {{level: number, cell: number, width: number, height: number, side: number,
 *   cols: number, rows: number, bmps: ImageBitmap[]}} MosaicLevel */
/** @typedef {{i: number, col: number, row: number}} MosaicRef */

/**
 * The level to draw at `px` device px per grid cell: the coarsest whose cell is at least `px`
 * (no detail lost, fewest pixels), else the finest there is; null without levels.
 * @param {Array<{cell: number} | undefined>} levels by level number @param {number} px
 * @returns {number | null} the level number
 */
export function chooseLevel(levels, px) {
  /** @type {number | null} */
  let best = null;
  /** @type {number | null} */
  let finest = null;
  let bestCell = 0, finestCell = 0;
  levels.forEach((lv, i) => {
    if (!lv) return;
    if (lv.cell >= px && (best === null || lv.cell < bestCell)) { best = i; bestCell = lv.cell; }
    if (finest === null || lv.cell > finestCell) { finest = i; finestCell = lv.cell; }
  });
  return best ?? finest;
}

/**
 * The mosaics of `lv` that a w × h canvas shows at `view` (row-major order).
 * @param {{cell: number, side: number, cols: number, rows: number}} lv
 * @param {View} view @param {number} w @param {number} h @returns {MosaicRef[]}
 */
export function mosaicsInView(lv, view, w, h) {
  const k = view.scale / lv.cell; // screen px per level px
  const at = (/** @type {number} */ v, /** @type {number} */ n) => Math.min(n - 1, Math.max(0, Math.floor(v)));
  const x0 = -view.tx / k, x1 = (w - view.tx) / k, y0 = -view.ty / k, y1 = (h - view.ty) / k;
  if (x1 <= 0 || y1 <= 0 || x0 >= lv.cols * lv.side || y0 >= lv.rows * lv.side) return [];
  /** @type {MosaicRef[]} */
  const out = [];
  for (let row = at(y0 / lv.side, lv.rows); row <= at(y1 / lv.side, lv.rows); row++) {
    for (let col = at(x0 / lv.side, lv.cols); col <= at(x1 / lv.side, lv.cols); col++) {
      out.push({ i: row * lv.cols + col, col, row });
    }
  }
  return out;
}

/** The pyramid of one layout: its levels arrive one message each, coarsest first. */
export class MosaicPyramid {
  constructor() {
    this.id = -1;
    /** @type {Array<MosaicLevel | undefined>} */
    this.levels = [];
  }

  /** @param {MosaicsReply} h @param {ImageBitmap[]} bmps one per mosaic, row-major */
  add(h, bmps) {
    if (h.pyramid !== this.id) this.clear();
    this.id = h.pyramid;
    this.levels[h.level]?.bmps.forEach((b) => b.close?.());
    const { level, cell, width, height, side, cols, rows } = h;
    this.levels[h.level] = { level, cell, width, height, side, cols, rows, bmps };
  }

  /** Forget every level (the layout changed). */
  clear() {
    for (const lv of this.levels) lv?.bmps.forEach((b) => b.close?.());
    this.levels = [];
    this.id = -1;
  }

  get empty() { return !this.levels.some(Boolean); }

  /**
   * Draw the map at `view` from the mosaics; returns how many images it drew.
   * @param {CanvasRenderingContext2D} ctx @param {View} view @param {number} w @param {number} h
   * @param {number} dpr @returns {{level: number, images: number} | null} null: no level
   */
  draw(ctx, view, w, h, dpr) {
    const level = chooseLevel(this.levels, view.scale * dpr);
    const lv = level === null ? undefined : this.levels[level];
    if (!lv) return null;
    const k = view.scale / lv.cell;
    // edges snapped to device pixels, so neighbouring mosaics meet without a seam
    const X = (/** @type {number} */ px) => Math.round((px * k + view.tx) * dpr) / dpr;
    const Y = (/** @type {number} */ px) => Math.round((px * k + view.ty) * dpr) / dpr;
    ctx.imageSmoothingEnabled = k * dpr < 1;
    const refs = mosaicsInView(lv, view, w, h);
    for (const { i, col, row } of refs) {
      const x = col * lv.side, y = row * lv.side;
      const mw = Math.min(lv.side, lv.width - x), mh = Math.min(lv.side, lv.height - y);
      ctx.drawImage(lv.bmps[i], X(x), Y(y), X(x + mw) - X(x), Y(y + mh) - Y(y));
    }
    ctx.imageSmoothingEnabled = true;
    return { level: lv.level, images: refs.length };
  }
}

/**
 * A cols × rows canvas, opaque in `bg` where a cell is empty and transparent elsewhere: drawn
 * over the mosaics (which hold grey there) so empty cells show the theme's background. Null when
 * no cell is empty.
 * @param {Int32Array} index row per cell (-1: empty) @param {number} rows @param {number} cols
 * @param {string} bg @returns {HTMLCanvasElement | null}
 */
export function emptyMask(index, rows, cols, bg) {
  if (!index.some((r) => r < 0) || typeof document === "undefined") return null;
  const cv = document.createElement("canvas");
  cv.width = cols;
  cv.height = rows;
  const ctx = /** @type {CanvasRenderingContext2D} */ (cv.getContext("2d"));
  const img = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows * cols; i++) if (index[i] < 0) img.data[4 * i + 3] = 255;
  ctx.putImageData(img, 0, 0);
  ctx.globalCompositeOperation = "source-in";
  ctx.fillStyle = bg;
  ctx.fillRect(0, 0, cols, rows);
  return cv;
}
