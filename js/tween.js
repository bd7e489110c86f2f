// Cell animation: when the map changes under the same images (a hybrid weight or mode change
// that warm-starts the SOM), each image glides from its old cell to its new one over ~300 ms,
// so the eye can follow where things went. Off when the user prefers reduced motion.

export const TWEEN_MS = 300;
// Above this many images a frame draws too many tiles to stay smooth; the map just switches.
export const TWEEN_MAX_N = 20000;

/** Ease-out (fast start, gentle landing). @param {number} t in [0, 1] @returns {number} */
export function ease(t) {
  const u = Math.min(1, Math.max(0, t));
  return u * (2 - u);
}

/**
 * Positions between two cell layouts: out[2i], out[2i+1] = (row, col) of image i at progress
 * e (0: `from`, 1: `to`), as floats.
 * @param {ArrayLike<number>} from @param {ArrayLike<number>} to @param {number} e
 * @param {Float32Array} [out] @returns {Float32Array}
 */
export function interpolateCells(from, to, e, out) {
  const res = out && out.length === to.length ? out : new Float32Array(to.length);
  for (let i = 0; i < to.length; i++) res[i] = from[i] + (to[i] - from[i]) * e;
  return res;
}

/** Whether the user asked for less motion (prefers-reduced-motion). @returns {boolean} */
export function reducedMotion() {
  return typeof matchMedia === "function" && matchMedia("(prefers-reduced-motion: reduce)").matches;
}

/**
 * Whether a new layout should animate from `prev`: same images, not too many, motion allowed.
 * @param {ArrayLike<number>} prev @param {ArrayLike<number>} next @param {number} n @param {number} prevN
 * @returns {boolean}
 */
export function shouldTween(prev, next, n, prevN) {
  return prev.length === next.length && n === prevN && n > 1 && n <= TWEEN_MAX_N && !reducedMotion();
}

/** A running animation between two layouts. */
export class CellTween {
  /** @param {ArrayLike<number>} from @param {ArrayLike<number>} to @param {number} t0 */
  constructor(from, to, t0) {
    this.from = from;
    this.to = to;
    this.t0 = t0;
    this.pos = new Float32Array(to.length);
  }

  /**
   * Positions at time `now` and whether the animation is over.
   * @param {number} now @returns {{pos: Float32Array, done: boolean}}
   */
  at(now) {
    const t = Math.min(1, (now - this.t0) / TWEEN_MS);
    interpolateCells(this.from, this.to, ease(t), this.pos);
    return { pos: this.pos, done: t >= 1 };
  }
}
