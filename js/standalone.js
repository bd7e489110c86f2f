// A saved map (vectorvision_widget/widget/export.py): the anywidget model API served from the
// data embedded in the page, so the bundled widget (static/widget.js, unchanged) runs with no
// kernel. What the kernel would do is done here: atlases and tooltip details are answered from
// the page's bytes, sharp thumbnails are square crops of the tooltip image, search by name /
// keyword and colour run over the embedded text and average colours.

import { fromWire } from "./codecs.js";

/** @typedef {import("./types").Model} Model */
/** @typedef {{msg: any, bufs: number[][]}} Stored a reply and the [offset, length] of its buffers */
/** @typedef {{state: Record<string, any>, atlases: Stored[], infos: Array<Stored | null>, search: string[]}} Manifest */

/** @param {string} text base64 @returns {Uint8Array} */
export function fromBase64(text) {
  const s = atob(text.trim());
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * `value` with every `{"$bin": [offset, length]}` replaced by a DataView of those bytes.
 * @param {any} value @param {Uint8Array} bytes @returns {any}
 */
export function unpack(value, bytes) {
  if (Array.isArray(value)) return value.map((v) => unpack(v, bytes));
  if (value && typeof value === "object") {
    const ref = value.$bin;
    if (Array.isArray(ref)) return new DataView(bytes.buffer, bytes.byteOffset + ref[0], ref[1]);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unpack(v, bytes)]));
  }
  return value;
}

/**
 * Rows whose text holds every word of `query` (case-insensitive), at most `k`, in row order:
 * the kernel's search without encoders (mapwork.name_search).
 * @param {string[]} texts lower-case name + keywords per row @param {string} query @param {number} k
 * @returns {number[]}
 */
export function nameSearch(texts, query, k) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  /** @type {number[]} */
  const hits = [];
  if (!words.length) return hits;
  for (let row = 0; row < texts.length && hits.length < k; row++) {
    if (words.every((w) => texts[row].includes(w))) hits.push(row);
  }
  return hits;
}

/**
 * The `k` rows whose average colour is nearest to `hex` ("#rrggbb"), nearest first; [] for a
 * malformed colour.
 * @param {Uint8Array} colours (N, 3) @param {string} hex @param {number} k @returns {number[]}
 */
export function colourSearch(colours, hex, k) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) return [];
  const v = parseInt(m[1], 16);
  const [r, g, b] = [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  const n = Math.floor(colours.length / 3);
  const dist = Array.from({ length: n }, (_, i) =>
    (colours[3 * i] - r) ** 2 + (colours[3 * i + 1] - g) ** 2 + (colours[3 * i + 2] - b) ** 2);
  return Array.from({ length: n }, (_, i) => i).sort((a, c) => dist[a] - dist[c] || a - c).slice(0, k);
}

/**
 * A square JPEG of `size` px at most, cut from the middle of an image (a zoomed-in cell's sharp
 * thumbnail, from the tooltip image).
 * @param {DataView} jpeg @param {number} size @returns {Promise<DataView>}
 */
async function squareCrop(jpeg, size) {
  const bmp = await createImageBitmap(new Blob([/** @type {DataView<ArrayBuffer>} */ (jpeg)], { type: "image/jpeg" }));
  const side = Math.min(bmp.width, bmp.height);
  const out = Math.max(1, Math.min(size, side));
  const canvas = new OffscreenCanvas(out, out);
  const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
  ctx.drawImage(bmp, (bmp.width - side) / 2, (bmp.height - side) / 2, side, side, 0, 0, out, out);
  bmp.close();
  const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.85 });
  return new DataView(await blob.arrayBuffer());
}

/**
 * The model of a saved map: get/set/save_changes/on/off/send as anywidget's, over `manifest`.
 * @param {Manifest} manifest @param {Uint8Array} bytes the decoded binary block
 * @returns {Model}
 */
export function staticModel(manifest, bytes) {
  /** @type {Record<string, any>} */
  const state = unpack(manifest.state, bytes);
  /** @type {Map<string, Set<(...args: any[]) => void>>} */
  const listeners = new Map();
  /** @type {Set<string>} */
  const dirty = new Set();
  const later = (/** @type {() => void} */ fn) => { setTimeout(fn, 0); };

  /** @param {string} event @param {...any} args */
  function emit(event, ...args) {
    for (const fn of [...(listeners.get(event) ?? [])]) fn(...args);
  }
  /** What the kernel would set. @param {string} key @param {unknown} value */
  function put(key, value) {
    state[key] = value;
    emit(`change:${key}`);
  }
  /** @param {number[][]} refs @returns {DataView[]} */
  const views = (refs) => refs.map(([off, len]) => new DataView(bytes.buffer, bytes.byteOffset + off, len));
  /** @param {Stored} stored */
  const reply = (stored) => emit("msg:custom", stored.msg, views(stored.bufs));

  /** The kernel's answer to traits changed in the browser. @param {string[]} keys */
  function react(keys) {
    const k = Number(state.search_k) || 24;
    if (keys.includes("query") || keys.includes("search_k")) {
      const q = String(state.query ?? "").trim();
      if (q) put("highlighted", nameSearch(manifest.search, q, k));
      else if (!state.colour_query) put("highlighted", []);
    }
    if (keys.includes("colour_query")) {
      const c = String(state.colour_query ?? "").trim();
      if (c) put("highlighted", colourSearch(/** @type {Uint8Array} */ (fromWire(state._colours).data), c, k));
      else if (!state.query) put("highlighted", []);
    }
  }

  /** @param {any} msg */
  async function answer(msg) {
    if (msg?.type === "hello") {
      manifest.atlases.forEach(reply);
    } else if (msg?.type === "info") {
      const stored = manifest.infos[msg.row];
      if (stored) reply(stored);
    } else if (msg?.type === "thumbs") {
      /** @type {number[]} */
      const rows = [], failed = [];
      /** @type {DataView[]} */
      const bufs = [];
      for (const row of msg.rows) {
        const ref = manifest.infos[row]?.bufs[0];
        if (!ref) { failed.push(row); continue; }
        try {
          bufs.push(await squareCrop(views([ref])[0], msg.size));
          rows.push(row);
        } catch {
          failed.push(row);
        }
      }
      emit("msg:custom", { type: "thumbs", req: msg.req, size: msg.size, rows, failed, version: state._data_version }, bufs);
    }
  }

  return {
    get: (key) => state[key],
    set(key, value) {
      if (Object.is(state[key], value)) return;
      state[key] = value;
      dirty.add(key);
      emit(`change:${key}`);
    },
    save_changes() {
      const keys = [...dirty];
      dirty.clear();
      if (keys.length) later(() => react(keys));
    },
    on(event, fn) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event)?.add(fn);
    },
    off(event, fn) {
      if (fn) listeners.get(event)?.delete(fn);
      else listeners.delete(event);
    },
    send(msg) { later(() => { answer(msg); }); },
  };
}

/** In a saved page: build the model, import the widget and render it into #vv-map. */
async function main() {
  const text = (/** @type {string} */ id) => document.getElementById(id)?.textContent ?? "";
  const manifest = /** @type {Manifest} */ (JSON.parse(text("vv-manifest")));
  const model = staticModel(manifest, fromBase64(text("vv-bin")));
  const url = URL.createObjectURL(new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (fromBase64(text("vv-esm")))], { type: "text/javascript" }));
  const widget = (await import(/* @vite-ignore */ url)).default;
  const el = /** @type {HTMLElement} */ (document.getElementById("vv-map"));
  Object.assign(window, { vvMap: { model } }); // for scripts and tests: vvMap.model.get("selected")
  widget.render({ model, el });
}

if (typeof document !== "undefined" && document.getElementById("vv-manifest")) {
  main().catch((err) => {
    const el = document.getElementById("vv-map");
    if (el) el.textContent = `This saved map could not be shown: ${err}`;
    console.error(err);
  });
}
