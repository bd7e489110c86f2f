// Test and benchmark hooks: `root.__vv` and timing arrays exist only when the page sets
// `globalThis.__vvDebug = true` before the widget renders (benchmarks/bench_widget.py and the
// browser tests do), so normal use keeps no references and records nothing.

const CAP = 600;

/** @returns {boolean} */
export function debugEnabled() {
  return Boolean(/** @type {any} */ (globalThis).__vvDebug);
}

/**
 * @typedef {object} Stats
 * @property {number[]} hoverMs pointer event -> overlay drawn
 * @property {number[]} hoverWorkMs our work only
 * @property {number[]} drawMs
 * @property {number[]} overlayMs
 * @property {number | null} firstFullRender
 * @property {number | null} firstMosaicFrame end of the first base frame drawn from mosaics
 *   with every visible mosaic of the level the view needs
 * @property {number} atlasCount
 * @property {number} bitmapErrors
 */

/** @param {boolean} on @returns {Stats | null} */
export function makeStats(on = debugEnabled()) {
  if (!on) return null;
  return { hoverMs: [], hoverWorkMs: [], drawMs: [], overlayMs: [], firstFullRender: null,
    firstMosaicFrame: null, atlasCount: 0, bitmapErrors: 0 };
}

/**
 * Append one timing (the last CAP are kept); a no-op without debug.
 * @param {Stats | null} stats @param {"hoverMs"|"hoverWorkMs"|"drawMs"|"overlayMs"} key @param {number} ms
 */
export function record(stats, key, ms) {
  if (!stats) return;
  const a = stats[key];
  a.push(ms);
  if (a.length > CAP) a.shift();
}
