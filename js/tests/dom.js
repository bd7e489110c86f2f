// Test helper (not a test file): a jsdom page installed as the globals the widget uses, a 2D
// context that records calls, stubbed createImageBitmap, and a fake anywidget model.
import { JSDOM } from "jsdom";

/** A CanvasRenderingContext2D stand-in that records every call as [name, ...args]. */
export function recordingContext(calls = []) {
  return new Proxy({ calls }, {
    get(target, name) {
      if (name in target) return target[name];
      if (name === "measureText") return (s) => ({ width: String(s).length * 6 });
      if (name === "createImageData") return (w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) });
      return (...args) => calls.push([name, ...args]);
    },
    set() { return true; },
  });
}

/** Install a fresh jsdom document as globals; returns {window, bitmaps} (bitmaps: control). */
export function installDom() {
  const dom = new JSDOM("<!doctype html><html><body data-jp-theme-light='true'></body></html>",
    { pretendToBeVisual: true });
  const w = dom.window;
  w.HTMLCanvasElement.prototype.getContext = function () {
    this.__ctx ||= recordingContext();
    return this.__ctx;
  };
  const bitmaps = { mode: "ok", pending: [], closed: 0, made: 0 };
  const g = /** @type {any} */ (globalThis);
  Object.assign(g, {
    window: w, document: w.document, Node: w.Node, HTMLElement: w.HTMLElement,
    getComputedStyle: (el) => w.getComputedStyle(el),
    requestAnimationFrame: (f) => w.requestAnimationFrame(f),
    cancelAnimationFrame: (id) => w.cancelAnimationFrame(id),
    MutationObserver: w.MutationObserver,
    ResizeObserver: class { observe() {} disconnect() {} },
    createImageBitmap: () => {
      if (bitmaps.mode === "fail") return Promise.reject(new Error("broken JPEG"));
      bitmaps.made += 1;
      const bmp = { width: 24, height: 24, close() { bitmaps.closed += 1; } };
      if (bitmaps.mode === "hold") return new Promise((ok) => bitmaps.pending.push(() => ok(bmp)));
      return Promise.resolve(bmp);
    },
  });
  return { window: w, bitmaps };
}

/** A synced array trait as Python sends it: {view, dtype, shape}. */
export function wire(TypedArray, values, shape) {
  const a = TypedArray.from(values);
  const dtype = { Int32Array: "int32", Uint8Array: "uint8", Float32Array: "float32" }[TypedArray.name];
  return { view: new DataView(a.buffer), dtype, shape };
}

/** A fake anywidget model: get/set/save_changes/on/off/send; `emit` plays the kernel. */
export function fakeModel(state) {
  const listeners = new Map();
  const sent = [];
  const saved = [];
  const model = {
    state, sent, saved,
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; saved.push([k, v]); },
    save_changes: () => {},
    on: (ev, fn) => { if (!listeners.has(ev)) listeners.set(ev, new Set()); listeners.get(ev).add(fn); },
    off: (ev, fn) => listeners.get(ev)?.delete(fn),
    send: (msg) => sent.push(msg),
    /** The kernel changes a trait. */
    emit(k, v) { state[k] = v; for (const fn of listeners.get(`change:${k}`) ?? []) fn(); },
    /** The kernel sends a custom message. */
    message(msg, buffers = []) { for (const fn of listeners.get("msg:custom") ?? []) fn(msg, buffers); },
    listenerCount: () => [...listeners.values()].reduce((a, s) => a + s.size, 0),
  };
  return model;
}

/** A 6×6 grid with `n` images in row-major cells and the traits the widget reads. */
export function widgetState(n = 30, rows = 6, cols = 6) {
  const cells = [];
  for (let i = 0; i < n; i++) cells.push(Math.floor(i / cols), i % cols);
  const k = 3;
  const idx = [], scores = [];
  for (let i = 0; i < n; i++) for (let j = 1; j <= k; j++) { idx.push((i + j) % n); scores.push(1 - j / 10); }
  return {
    mode: "visual", hybrid_weight: 0.5, k: 3, hovered: null, selected: [], highlighted: [],
    query: "", colour_query: "", search_k: 24, height: 400, thumb_size: 24, banner: "",
    progress: {}, error: "", status: "", _grid: [rows, cols], _data_version: 1, _can_rescan: true,
    _can_search: false, _sharp_sizes: [16, 32, 64, 128, 256],
    _modes: [["visual", "Look", "t"], ["semantic", "Meaning", "t"], ["hybrid", "Hybrid", "t"], ["colour", "Colour", "t"]],
    _cells: wire(Int32Array, cells, [n, 2]),
    _colors: wire(Uint8Array, new Array(3 * n).fill(100), [n, 3]),
    _colours: wire(Uint8Array, new Array(3 * n).fill(100), [n, 3]),
    _table: { idx: wire(Int32Array, idx, [n, k]), scores: wire(Float32Array, scores, [n, k]) },
  };
}

/** Dispatch a keyboard event on `target` (bubbling, like a real key press). */
export function key(target, type, k, opts = {}) {
  const w = /** @type {any} */ (globalThis).window;
  target.dispatchEvent(new w.KeyboardEvent(type, { key: k, bubbles: true, cancelable: true, ...opts }));
}

/** Dispatch a pointer-ish mouse event (jsdom has no PointerEvent; the type is what counts). */
export function pointer(target, type, x, y, opts = {}) {
  const w = /** @type {any} */ (globalThis).window;
  target.dispatchEvent(new w.MouseEvent(type, { clientX: x, clientY: y, bubbles: true, cancelable: true, button: 0, ...opts }));
}

export const tick = (ms = 0) => new Promise((ok) => setTimeout(ok, ms));
