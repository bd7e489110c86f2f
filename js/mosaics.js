// The overview's tile pyramid (built by the kernel, vectorvision_widget/thumbs/pyramid.py): each
// level is the whole map at `cell` px per grid cell, cut into `side`-px JPEG mosaics. Zoomed out,
// the map is drawn from the few mosaics covering the view at the level whose cell is just larger
// than a screen pixel: a handful of drawImage calls at any N, instead of one per image.

/** @typedef {import("./types").View} View @typedef {import("./types").MosaicsReply} MosaicsReply */
/** @typedef {{level: number, cell: number, width: number, height: number, side: number,
 *   cols: number, rows: number, blobs: Blob[], bmps: Array<ImageBitmap | null | undefined>}} MosaicLevel */
/** @typedef {{i: number, col: number, row: number}} MosaicRef */

/** Levels of at most this many mosaics are decoded on arrival: the zoomed-out views need them
 * first, and the decoder works in arrival order (the atlases that follow would queue ahead). */
const PREFETCH_MAX = 16;

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

/** The pyramid of one layout: its levels arrive one message each (coarsest first) as JPEG
 * blobs. The small coarse levels are decoded at once; a mosaic of a finer level the first time a
 * frame needs it (deep-zoom viewers load tiles on demand too), so a million-image level 0 costs
 * nothing until someone zooms in. */
export class MosaicPyramid {
  constructor() {
    this.id = -1;
    /** @type {Array<MosaicLevel | undefined>} */
    this.levels = [];
    /** Decodes one mosaic (createImageBitmap in the browser). @type {(blob: Blob) => Promise<ImageBitmap>} */
    this.decode = (blob) => createImageBitmap(blob);
    /** Called when a mosaic has been decoded (the owner redraws). */
    this.onReady = () => {};
    /** Called when a mosaic cannot be decoded. */
    this.onError = () => {};
    this.decoding = 0; // decodes in flight
  }

  /** @param {MosaicsReply} h @param {Blob[]} blobs one JPEG per mosaic, row-major */
  add(h, blobs) {
    if (h.pyramid !== this.id) this.clear();
    this.id = h.pyramid;
    this._close(this.levels[h.level]);
    const { level, cell, width, height, side, cols, rows } = h;
    const lv = { level, cell, width, height, side, cols, rows, blobs, bmps: [] };
    this.levels[h.level] = lv;
    if (blobs.length <= PREFETCH_MAX) blobs.forEach((_, i) => this._bitmap(lv, i));
  }

  /** Forget every level (the layout changed). */
  clear() {
    this.levels.forEach((lv) => this._close(lv));
    this.levels = [];
    this.id = -1;
  }

  /** @param {MosaicLevel | undefined} lv */
  _close(lv) {
    lv?.bmps.forEach((b) => b?.close?.());
    if (lv) lv.bmps = [];
  }

  get empty() { return !this.levels.some(Boolean); }

  /**
   * The decoded bitmap of mosaic `i` of `lv`, or null (its decode starts now).
   * @param {MosaicLevel} lv @param {number} i @returns {ImageBitmap | null}
   */
  _bitmap(lv, i) {
    const b = lv.bmps[i];
    if (b) return b;
    if (b === undefined) {
      lv.bmps[i] = null; // decoding
      this.decoding += 1;
      this.decode(lv.blobs[i]).then((bmp) => {
        this.decoding -= 1;
        if (this.levels[lv.level] !== lv) bmp.close?.(); // dropped meanwhile
        else lv.bmps[i] = bmp;
        this.onReady();
      }, () => {
        this.decoding -= 1;
        this.onError();
      });
    }
    return null;
  }

  /**
   * Draw the map at `view` from the mosaics: the level the view needs, over the nearest coarser
   * level while some of its mosaics still decode.
   * @param {CanvasRenderingContext2D} ctx @param {View} view @param {number} w @param {number} h
   * @param {number} dpr
   * @returns {{level: number, images: number, complete: boolean} | null} null: nothing to draw yet
   */
  draw(ctx, view, w, h, dpr) {
    const level = chooseLevel(this.levels, view.scale * dpr);
    const lv = level === null ? undefined : this.levels[level];
    if (!lv) return null;
    const refs = mosaicsInView(lv, view, w, h);
    const bmps = refs.map((r) => this._bitmap(lv, r.i));
    const complete = bmps.every(Boolean);
    let images = 0;
    if (!complete) { // a backdrop: the nearest coarser level with all its visible mosaics decoded
      for (let up = lv.level + 1; up < this.levels.length; up++) {
        const back = this.levels[up];
        if (!back) continue;
        const backRefs = mosaicsInView(back, view, w, h);
        const ready = backRefs.map((r) => this._bitmap(back, r.i));
        if (!ready.every(Boolean)) continue;
        images += this._blit(ctx, back, view, dpr, backRefs, /** @type {ImageBitmap[]} */ (ready));
        break;
      }
    }
    images += this._blit(ctx, lv, view, dpr, refs, bmps);
    return images ? { level: lv.level, images, complete } : null;
  }

  /**
   * @param {CanvasRenderingContext2D} ctx @param {MosaicLevel} lv @param {View} view
   * @param {number} dpr @param {MosaicRef[]} refs @param {Array<ImageBitmap | null>} bmps
   * @returns {number} images drawn
   */
  _blit(ctx, lv, view, dpr, refs, bmps) {
    const k = view.scale / lv.cell; // screen px per level px
    // edges snapped to device pixels, so neighbouring mosaics meet without a seam
    const X = (/** @type {number} */ px) => Math.round((px * k + view.tx) * dpr) / dpr;
    const Y = (/** @type {number} */ px) => Math.round((px * k + view.ty) * dpr) / dpr;
    ctx.imageSmoothingEnabled = k * dpr < 1;
    let drawn = 0;
    refs.forEach(({ col, row }, j) => {
      const bmp = bmps[j];
      if (!bmp) return;
      const x = col * lv.side, y = row * lv.side;
      const mw = Math.min(lv.side, lv.width - x), mh = Math.min(lv.side, lv.height - y);
      ctx.drawImage(bmp, X(x), Y(y), X(x + mw) - X(x), Y(y + mh) - Y(y));
      drawn += 1;
    });
    ctx.imageSmoothingEnabled = true;
    return drawn;
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
