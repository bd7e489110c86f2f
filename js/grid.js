// The base layer: every image in its grid cell. Zoomed out it draws the kernel's mosaics of the
// overview pyramid (mosaics.js: a few drawImage calls per frame, whatever N is); until they arrive
// it blits one overview canvas composed here from the atlases (built lazily, only when needed);
// zoomed in it draws the visible cells from the atlases, or from sharper thumbnails on demand.

import { buildCellIndex } from "./hit.js";
import { CellTween, shouldTween } from "./tween.js";
import { MosaicPyramid, emptyMask } from "./mosaics.js";
import { visibleCells } from "./view.js";

/** @typedef {import("./types").View} View @typedef {import("./types").Theme} Theme */
/** @typedef {{index: number, first: number, count: number, tile: number, cols: number}} AtlasHeader */
/** @typedef {AtlasHeader & {bmp: ImageBitmap}} Atlas */
/** @typedef {{from: "mosaics" | "overview" | "tiles" | "tween" | "none", images: number, level: number,
 *   complete?: boolean}} LastDraw complete: every visible mosaic of `level` was drawn */
/** @param {HTMLCanvasElement} cv @returns {CanvasRenderingContext2D} */
const ctx2d = (cv) => /** @type {CanvasRenderingContext2D} */ (cv.getContext("2d"));

const OVERVIEW_MAX_PX = 4096; // overview canvas side limit (memory: 4096² × 4 B = 64 MB max)
const SHARP_CAP = 1500;
// Level of detail: at ≤ 2 px per cell, or above 300k images, the overview is one colour per cell
// (a tile shrunk that far is its average colour anyway), so a million images cost no million
// drawImage calls; atlas tiles are drawn per visible cell once zoomed in.
const OVERVIEW_TILE_MIN_PX = 2;
const OVERVIEW_TILE_MAX_N = 300000;
// Above this many visible cells one overview blit (slightly upscaled) beats a drawImage per tile:
// 20k tiles cost ~160 ms a frame on a busy 2-core machine (6 fps at 100k zoomed in 6×).
const TILE_DRAW_MAX = 5000;

export class GridRenderer {
  constructor() {
    this.n = 0;
    this.rows = 1;
    this.cols = 1;
    /** @type {ArrayLike<number>} */
    this.cells = new Int32Array(0);
    /** @type {Int32Array} */
    this.index = new Int32Array(1).fill(-1);
    /** @type {ArrayLike<number>} */
    this.colors = new Uint8Array(0);
    /** @type {Array<Atlas | undefined>} */
    this.atlases = []; // by atlas index: {first, count, tile, cols, bmp}
    this.perAtlas = 1024;
    this.tile = 24;
    /** @type {Map<number, {size: number, bmp: ImageBitmap}>} */
    this.sharp = new Map(); // row -> {size, bmp}
    /** @type {HTMLCanvasElement | null} */
    this.overview = null;
    this.ov = 1;
    /** @type {HTMLCanvasElement | null} */
    this.colorLayer = null;
    /** @type {CellTween | null} */
    this.tween = null;
    this.forceTiles = false; // benchmark baseline: draw every visible tile, no overview
    this.useMosaics = true; // false: benchmark baseline, the overview canvas only
    this.mosaics = new MosaicPyramid();
    this.ovDirty = true; // the overview canvas must be rebuilt before its next use
    this.ovTiles = false; // whether the overview canvas holds atlas tiles (or colours only)
    /** @type {Atlas[]} */
    this.ovPending = []; // atlases not yet drawn into the overview canvas
    /** @type {{bg: string, cv: HTMLCanvasElement | null} | null} */
    this.mask = null;
    /** @type {LastDraw} what the last base frame was drawn from (tests, benchmarks) */
    this.lastDraw = { from: "none", images: 0, level: -1 };
  }

  /**
   * New layout (or new data). Starts a tween from the previous positions when small.
   * @param {ArrayLike<number>} cells (row, col) pairs @param {number} n @param {number} rows
   * @param {number} cols @param {ArrayLike<number> | null} colors (r, g, b) per row
   */
  setCells(cells, n, rows, cols, colors) {
    const prev = this.cells;
    const animate = shouldTween(prev, cells, n, this.n) && typeof performance !== "undefined";
    this.n = n;
    this.rows = Math.max(rows, 1);
    this.cols = Math.max(cols, 1);
    this.cells = cells;
    if (colors) this.colors = colors;
    this.index = buildCellIndex(cells, n, this.rows, this.cols);
    this.mosaics.clear();
    this.mask = null;
    this.tween = animate ? new CellTween(prev, cells, performance.now()) : null;
    this.ovDirty = true;
  }

  /** Drop thumbnails (the library changed). */
  reset() {
    for (const a of this.atlases) a?.bmp?.close?.();
    for (const s of this.sharp.values()) s.bmp?.close?.();
    this.atlases = [];
    this.sharp.clear();
    this.mosaics.clear();
  }

  /** One level of the overview pyramid. @param {import("./types").MosaicsReply} h @param {Blob[]} blobs */
  addMosaics(h, blobs) {
    this.mosaics.add(h, blobs);
  }

  /** @param {AtlasHeader} h @param {ImageBitmap} bmp */
  addAtlas(h, bmp) {
    this.atlases[h.index]?.bmp?.close?.();
    this.atlases[h.index] = { ...h, bmp };
    this.perAtlas = h.cols * h.cols;
    this.tile = h.tile;
    if (!this.ovDirty) this.ovPending.push({ ...h, bmp });
  }

  /** The overview canvas up to date (drawn only when a frame falls back to it). */
  _ensureOverview() {
    // while mosaics decode, the colours stand in: no frame of one drawImage per image
    const tiles = this.mosaics.empty;
    if (this.ovDirty || !this.overview || (tiles && !this.ovTiles)) return this.rebuildOverview(tiles);
    if (!tiles || !this.ovPending.length) return;
    if (this._tilesInOverview()) {
      const ctx = ctx2d(this.overview);
      for (const h of this.ovPending) {
        for (let row = h.first; row < h.first + h.count && row < this.n; row++) this._ovTile(ctx, row);
      }
    }
    this.ovPending = [];
  }

  /** @param {number} row @param {number} size @param {ImageBitmap} bmp */
  addSharp(row, size, bmp) {
    const old = this.sharp.get(row);
    if (old) {
      old.bmp?.close?.();
      this.sharp.delete(row);
    }
    this.sharp.set(row, { size, bmp });
    if (this.sharp.size > SHARP_CAP) {
      const [oldest, v] = /** @type {[number, {bmp: ImageBitmap}]} */ (this.sharp.entries().next().value);
      v.bmp?.close?.();
      this.sharp.delete(oldest);
    }
  }

  /**
   * Rows visible at this view that would benefit from a sharper thumbnail of `size` px.
   * @param {View} view @param {number} w @param {number} h @param {number} size @returns {number[]}
   */
  wantSharp(view, w, h, size) {
    const v = visibleCells(view, w, h, this.rows, this.cols);
    /** @type {number[]} */
    const out = [];
    for (let r = v.r0; r <= v.r1; r++) {
      for (let c = v.c0; c <= v.c1; c++) {
        const row = this.index[r * this.cols + c];
        if (row < 0) continue;
        const s = this.sharp.get(row);
        if (!s || s.size < size) out.push(row);
      }
    }
    return out;
  }

  /** @param {number} row */
  _tileSource(row) {
    const a = this.atlases[Math.floor(row / this.perAtlas)];
    if (!a || !a.bmp) return null;
    const i = row - a.first;
    if (i >= a.count) return null; // a row added after this atlas was made: its own comes next
    return { bmp: a.bmp, sx: (i % a.cols) * a.tile, sy: Math.floor(i / a.cols) * a.tile, t: a.tile };
  }

  /** @param {number} row */
  _color(row) {
    const c = this.colors;
    return 3 * row + 2 < c.length ? `rgb(${c[3 * row]},${c[3 * row + 1]},${c[3 * row + 2]})` : "#888";
  }

  /**
   * Draw one image into a square at (x, y) of side s (screen px); used by the overlay too.
   * @param {CanvasRenderingContext2D} ctx @param {number} row @param {number} x @param {number} y
   * @param {number} s
   */
  drawTile(ctx, row, x, y, s, dpr = 1) {
    const gap = s >= 10 ? 1 : 0;
    const sh = this.sharp.get(row);
    const src = this._tileSource(row);
    if (sh && (!src || s * dpr > src.t * 1.05)) {
      ctx.drawImage(sh.bmp, x + gap, y + gap, s - 2 * gap, s - 2 * gap);
    } else if (src) {
      ctx.drawImage(src.bmp, src.sx, src.sy, src.t, src.t, x + gap, y + gap, s - 2 * gap, s - 2 * gap);
    } else {
      ctx.fillStyle = this._color(row);
      ctx.fillRect(x + gap, y + gap, s - 2 * gap, s - 2 * gap);
    }
  }

  rebuildOverview(tiles = true) {
    const side = Math.max(this.rows, this.cols);
    this.ov = Math.max(1, Math.min(this.tile, Math.floor(OVERVIEW_MAX_PX / side)));
    this.ovDirty = false;
    this.ovTiles = tiles;
    this.ovPending = [];
    if (typeof document === "undefined") return;
    const cv = this.overview || document.createElement("canvas");
    cv.width = this.cols * this.ov;
    cv.height = this.rows * this.ov;
    const ctx = ctx2d(cv);
    ctx.clearRect(0, 0, cv.width, cv.height);
    // Colours first, one pixel per cell in a tiny canvas (cheap), then atlas tiles on top.
    const small = this.colorLayer || document.createElement("canvas");
    small.width = this.cols;
    small.height = this.rows;
    const sctx = ctx2d(small);
    const img = sctx.createImageData(this.cols, this.rows);
    const c = this.colors;
    for (let i = 0; i < this.n; i++) {
      const p = 4 * (this.cells[2 * i] * this.cols + this.cells[2 * i + 1]);
      img.data[p] = c[3 * i] ?? 128;
      img.data[p + 1] = c[3 * i + 1] ?? 128;
      img.data[p + 2] = c[3 * i + 2] ?? 128;
      img.data[p + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    this.colorLayer = small;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, cv.width, cv.height);
    ctx.imageSmoothingEnabled = true;
    if (tiles && this._tilesInOverview()) for (let row = 0; row < this.n; row++) this._ovTile(ctx, row, true);
    this.overview = cv;
  }

  /** Whether atlas tiles are drawn into the overview (else it holds one colour per cell). */
  _tilesInOverview() {
    return this.ov > OVERVIEW_TILE_MIN_PX && this.n <= OVERVIEW_TILE_MAX_N;
  }

  /** @param {CanvasRenderingContext2D} ctx @param {number} row */
  _ovTile(ctx, row, skipColour = false) {
    const src = this._tileSource(row);
    const x = this.cells[2 * row + 1] * this.ov, y = this.cells[2 * row] * this.ov;
    if (src) ctx.drawImage(src.bmp, src.sx, src.sy, src.t, src.t, x, y, this.ov, this.ov);
    else if (!skipColour) {
      ctx.fillStyle = this._color(row);
      ctx.fillRect(x, y, this.ov, this.ov);
    }
  }

  /**
   * Draw the base layer. Returns true while a tween still needs frames.
   * @param {CanvasRenderingContext2D} ctx @param {View} view @param {number} w @param {number} h
   * @param {number} dpr @param {Theme} theme @returns {boolean}
   */
  draw(ctx, view, w, h, dpr, theme) {
    ctx.fillStyle = theme.bg;
    ctx.fillRect(0, 0, w, h);
    if (!this.n) return false;
    const s = view.scale;
    if (this.tween) {
      const { pos, done } = this.tween.at(performance.now());
      for (let row = 0; row < this.n; row++) {
        const x = pos[2 * row + 1] * s + view.tx, y = pos[2 * row] * s + view.ty;
        if (x + s < 0 || y + s < 0 || x > w || y > h) continue; // off screen
        this.drawTile(ctx, row, x, y, s, dpr);
      }
      if (done) this.tween = null;
      this.lastDraw = { from: "tween", images: this.n, level: -1 };
      return this.tween !== null;
    }
    const v = visibleCells(view, w, h, this.rows, this.cols);
    const count = Math.max(0, v.r1 - v.r0 + 1) * Math.max(0, v.c1 - v.c0 + 1);
    const far = s * dpr <= this.tile * 1.05 || count > TILE_DRAW_MAX;
    if (far && this.useMosaics && !this.forceTiles && !this.mosaics.empty) {
      const drawn = this.mosaics.draw(ctx, view, w, h, dpr);
      if (drawn) {
        this._drawEmpty(ctx, view, v, theme.bg);
        this.lastDraw = { from: "mosaics", ...drawn };
        return false;
      }
    }
    if (!this.forceTiles) this._ensureOverview();
    if (this.overview && !this.forceTiles && (s * dpr <= this.ov * 1.05 || count > TILE_DRAW_MAX)) {
      // One blit of the visible part of the overview.
      this.lastDraw = { from: "overview", images: 1, level: -1 };
      const o = this.ov;
      ctx.imageSmoothingEnabled = s * dpr < o;
      ctx.drawImage(
        this.overview, v.c0 * o, v.r0 * o, (v.c1 - v.c0 + 1) * o, (v.r1 - v.r0 + 1) * o,
        v.c0 * s + view.tx, v.r0 * s + view.ty, (v.c1 - v.c0 + 1) * s, (v.r1 - v.r0 + 1) * s,
      );
      ctx.imageSmoothingEnabled = true;
      return false;
    }
    this.lastDraw = { from: "tiles", images: count, level: -1 };
    for (let r = v.r0; r <= v.r1; r++) {
      for (let c = v.c0; c <= v.c1; c++) {
        const row = this.index[r * this.cols + c];
        if (row >= 0) this.drawTile(ctx, row, c * s + view.tx, r * s + view.ty, s, dpr);
      }
    }
    return false;
  }

  /**
   * Paint empty cells in the background colour over the mosaics (they hold grey there).
   * @param {CanvasRenderingContext2D} ctx @param {View} view
   * @param {import("./types").CellRange} v @param {string} bg
   */
  _drawEmpty(ctx, view, v, bg) {
    if (!this.mask || this.mask.bg !== bg) this.mask = { bg, cv: emptyMask(this.index, this.rows, this.cols, bg) };
    const cv = this.mask.cv;
    if (!cv || v.r1 < v.r0 || v.c1 < v.c0) return;
    const s = view.scale, nc = v.c1 - v.c0 + 1, nr = v.r1 - v.r0 + 1;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cv, v.c0, v.r0, nc, nr, v.c0 * s + view.tx, v.r0 * s + view.ty, nc * s, nr * s);
    ctx.imageSmoothingEnabled = true;
  }
}
