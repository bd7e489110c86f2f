// The widget's state store: one plain object (types.d.ts: MapState) that the modules read with
// get() and change with set(patch); watch(keys, fn) calls fn synchronously after a set() that
// changed one of `keys` (compared with Object.is). Synchronous on purpose: a Shift+Hover is
// drawn in the same event, and what a test reads right after an event is the new state.

/**
 * @template {object} S
 */
export class Store {
  /** @param {S} initial */
  constructor(initial) {
    /** @type {S} */
    this.state = { ...initial };
    /** @type {Set<{keys: Array<keyof S>, fn: (state: S) => void}>} */
    this.watchers = new Set();
  }

  /** The current state (live: read it, change it only through set). @returns {Readonly<S>} */
  get() {
    return this.state;
  }

  /**
   * Apply `patch`; the watchers of the keys that changed run once each, in the order they
   * were added. Returns the changed keys.
   * @param {Partial<S>} patch @returns {Array<keyof S>}
   */
  set(patch) {
    /** @type {Array<keyof S>} */
    const changed = [];
    for (const key of /** @type {Array<keyof S>} */ (Object.keys(patch))) {
      const value = /** @type {S[keyof S]} */ (patch[key]);
      if (Object.is(this.state[key], value)) continue;
      this.state[key] = value;
      changed.push(key);
    }
    if (!changed.length) return changed;
    for (const w of [...this.watchers]) {
      if (this.watchers.has(w) && w.keys.some((k) => changed.includes(k))) w.fn(this.state);
    }
    return changed;
  }

  /**
   * Call `fn(state)` after every set() that changes one of `keys`; returns the unwatch function.
   * @param {Array<keyof S>} keys @param {(state: S) => void} fn @returns {() => void}
   */
  watch(keys, fn) {
    const w = { keys, fn };
    this.watchers.add(w);
    return () => { this.watchers.delete(w); };
  }

  /** Drop every watcher (teardown). */
  clear() {
    this.watchers.clear();
  }
}
