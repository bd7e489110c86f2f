// Kernel messages (the protocol of vectorvision_widget/widget/protocol.py, typed in types.d.ts):
// the requests this view sends (hello, sharp thumbnails for a zoomed-in view, tooltip details,
// rescan) and the replies it receives (overview mosaics, atlases, thumbnails, info, rows changed
// in place), each checked on receipt and dropped when it belongs to another library version or
// arrives after teardown.

import { jpegBlob } from "./codecs.js";

/** @typedef {import("./types").MapState} MapState @typedef {import("./types").Model} Model */
/** @typedef {import("./types").Reply} Reply @typedef {import("./types").Size} Size */

/** A zoomed-in cell asks for sharp thumbnails from this size on (CSS px) ... */
export const SHARP_MIN_CELL_PX = 24;
/** ... and only once the atlas tile would be upscaled. */
const UPSCALE = 1.05;
const SHARP_DELAY_MS = 120;
const MAX_ROWS = 256; // protocol.MAX_ROWS_PER_REQUEST
/** A tooltip request answered "busy" is asked again after 300, 600, 1200 ms, then dropped. */
const INFO_RETRY_MS = 300;
const INFO_RETRIES = 3;

/** @param {unknown} v @returns {v is number} */
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
/** @param {unknown} v @returns {v is number[]} */
const isNums = (v) => Array.isArray(v) && v.every(isNum);

/**
 * A kernel message checked against the protocol: the reply, or null when it is not one (an
 * unknown type, a missing or mistyped field, too few buffers).
 * @param {any} msg @param {number} buffers how many buffers came with it @returns {Reply | null}
 */
export function readReply(msg, buffers) {
  if (!msg || typeof msg !== "object" || !isNum(msg.version)) return null;
  if (msg.type === "atlas") {
    const ok = ["index", "first", "count", "tile", "cols"].every((k) => isNum(msg[k])) && buffers >= 1;
    return ok ? msg : null;
  }
  if (msg.type === "thumbs") {
    const ok = isNum(msg.size) && isNums(msg.rows) && isNums(msg.failed) && buffers >= msg.rows.length;
    return ok ? msg : null;
  }
  if (msg.type === "info") {
    if (!isNum(msg.row)) return null;
    if (msg.busy === true) return msg; // the kernel's queue was full: no details, ask again
    return msg.meta && typeof msg.meta === "object" ? msg : null;
  }
  if (msg.type === "rows") return isNums(msg.rows) && isNum(msg.shifted) ? msg : null;
  if (msg.type === "mosaics") {
    const keys = ["pyramid", "level", "levels", "cell", "width", "height", "side", "cols", "rows"];
    const ok = keys.every((k) => isNum(msg[k])) && msg.cell > 0 && msg.side > 0
      && Number.isInteger(msg.level) && msg.level >= 0 && buffers >= msg.cols * msg.rows;
    return ok ? msg : null;
  }
  return null;
}

/**
 * Forget the sharp thumbnails of rows changed in place: `rows`, and every row from `shifted` on
 * (renumbered by a removal). Returns how many were dropped.
 * @param {Map<number, {bmp: ImageBitmap}>} sharp @param {number[]} rows @param {number} shifted
 * @returns {number}
 */
export function forgetRows(sharp, rows, shifted) {
  const gone = new Set(rows);
  let dropped = 0;
  for (const [row, s] of [...sharp]) {
    if (row < shifted && !gone.has(row)) continue;
    s.bmp?.close?.();
    sharp.delete(row);
    dropped += 1;
  }
  return dropped;
}

/**
 * The sharp thumbnail size for a cell of `px` device px: the smallest the kernel cuts that is
 * not upscaled, else the largest; 0 when it cuts none.
 * @param {number} px @param {number[]} sizes ascending @returns {number}
 */
export function sharpSize(px, sizes) {
  return sizes.find((s) => s >= px) ?? sizes.at(-1) ?? 0;
}

/**
 * The `_sharp_sizes` trait as ascending positive integers ([] when missing or malformed).
 * @param {unknown} value @returns {number[]}
 */
export function readSizes(value) {
  return (Array.isArray(value) ? value : []).filter((s) => Number.isInteger(s) && s > 0).sort((a, b) => a - b);
}

/**
 * One view's conversation with the kernel.
 * @param {{model: Model, store: import("./store").Store<MapState>,
 *   grid: import("./grid").GridRenderer, size: () => Size,
 *   tips: {arrived: (row: number, meta: any, image: Blob | null) => void, clear: () => void},
 *   stats: import("./debug").Stats | null, redraw: () => void}} deps
 */
export function kernelRequests({ model, store, grid, size, tips, stats, redraw }) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let sharpTimer;
  let reqId = 0;
  let disposed = false;
  const pendingSharp = new Set();
  /** Rows whose info request met a busy kernel -> how many times it was asked again. */
  const busyInfo = new Map();
  /** @type {Set<ReturnType<typeof setTimeout>>} */
  const retries = new Set();
  /** @type {Array<() => void>} atlas decodes held back while mosaics decode */
  let held = [];
  // The decoder works in arrival order: a thousand atlases (needed only zoomed in) would queue
  // ahead of the few mosaics the overview needs now, so they wait until those are decoded and
  // drawn (the frame the redraw asked for runs before this later animation-frame callback).
  const release = () => {
    if (grid.mosaics.decoding || !held.length) return;
    requestAnimationFrame(() => {
      if (grid.mosaics.decoding) return;
      const go = held;
      held = [];
      go.forEach((f) => f());
    });
  };
  grid.mosaics.onReady = () => { if (!disposed) { redraw(); release(); } };
  grid.mosaics.onError = () => { if (stats) stats.bitmapErrors += 1; release(); };

  /**
   * Decode JPEG bytes off the main thread; a failure is counted, a late result dropped.
   * @param {DataView} buf @param {number} version @param {(bmp: ImageBitmap) => void} use
   */
  function decode(buf, version, use) {
    createImageBitmap(jpegBlob(buf)).then((bmp) => {
      if (disposed || version !== store.get().version) return bmp.close();
      use(bmp);
    }, () => { if (stats) stats.bitmapErrors += 1; });
  }

  /** @param {any} raw a kernel message @param {DataView[]} buffers */
  function onMessage(raw, buffers) {
    const msg = readReply(raw, buffers.length);
    if (!msg || msg.version !== store.get().version) return;
    if (msg.type === "atlas") {
      const start = () => decode(buffers[0], msg.version, (bmp) => {
        grid.addAtlas(msg, bmp);
        redraw();
        if (!stats) return;
        stats.atlasCount += 1;
        if (stats.firstFullRender === null && grid.atlases.filter(Boolean).length * grid.perAtlas >= grid.n) {
          requestAnimationFrame(() => { stats.firstFullRender = performance.now(); });
        }
      });
      if (grid.mosaics.decoding) held.push(start);
      else start();
    } else if (msg.type === "thumbs") {
      // failed rows stay pending (no retry storm on a broken file) unless the kernel was busy
      if (msg.busy) msg.failed.forEach((row) => pendingSharp.delete(row));
      msg.rows.forEach((row, i) => {
        pendingSharp.delete(row);
        decode(buffers[i], msg.version, (bmp) => {
          grid.addSharp(row, msg.size, bmp);
          redraw();
        });
      });
    } else if (msg.type === "rows") {
      // an incremental refresh: same version, so the view and the other rows' images stay
      forgetRows(grid.sharp, msg.rows, msg.shifted);
      pendingSharp.clear();
      busyInfo.clear();
      tips.clear();
      redraw();
    } else if (msg.type === "mosaics") {
      // kept as JPEG blobs: each is decoded when a frame first needs it (mosaics.js)
      grid.addMosaics(msg, buffers.slice(0, msg.cols * msg.rows).map(jpegBlob));
      redraw();
    } else if (msg.type === "info") {
      if (disposed) return;
      if (msg.busy || !msg.meta) {
        // ask again later, backing off, at most INFO_RETRIES times (no storm on a busy kernel)
        const tries = busyInfo.get(msg.row) ?? 0;
        if (tries >= INFO_RETRIES) return void busyInfo.delete(msg.row);
        busyInfo.set(msg.row, tries + 1);
        const timer = setTimeout(() => {
          retries.delete(timer);
          if (!disposed) model.send({ type: "info", row: msg.row });
        }, INFO_RETRY_MS * 2 ** tries);
        retries.add(timer);
        return;
      }
      busyInfo.delete(msg.row);
      tips.arrived(msg.row, msg.meta, buffers.length ? jpegBlob(buffers[0]) : null);
    }
  }

  /** After a frame: ask for sharp thumbnails of the visible cells once the zoom settles. */
  function scheduleSharp() {
    clearTimeout(sharpTimer);
    const { view, dpr } = store.get();
    if (view.scale < SHARP_MIN_CELL_PX || view.scale * dpr <= grid.tile * UPSCALE || !grid.n) return;
    sharpTimer = setTimeout(() => {
      const st = store.get();
      const want = sharpSize(st.view.scale * st.dpr, st.sharpSizes);
      if (!want) return;
      const { w, h } = size();
      const rows = grid.wantSharp(st.view, w, h, want).filter((r) => !pendingSharp.has(r)).slice(0, MAX_ROWS);
      if (!rows.length) return;
      rows.forEach((r) => pendingSharp.add(r));
      model.send({ type: "thumbs", rows, size: want, req: ++reqId });
    }, SHARP_DELAY_MS);
  }

  const onCustom = (/** @type {any} */ msg, /** @type {DataView[]} */ buffers) => onMessage(msg, buffers);
  model.on("msg:custom", onCustom);

  return {
    onMessage,
    scheduleSharp,
    /** This view is ready: send the atlases built so far. */
    hello() { model.send({ type: "hello" }); },
    /** Tooltip details of `row`. @param {number} row */
    info(row) { model.send({ type: "info", row }); },
    /** ⟳ (`force`: re-embed everything). @param {boolean} force */
    rescan(force) { model.send({ type: "rescan", force }); },
    /** A new library version: forget the rows asked for. */
    reset() { pendingSharp.clear(); busyInfo.clear(); held = []; },
    dispose() {
      disposed = true;
      model.off("msg:custom", onCustom);
      clearTimeout(sharpTimer);
      retries.forEach((t) => clearTimeout(t));
      retries.clear();
    },
  };
}
