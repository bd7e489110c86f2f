// The filter bar under the toolbar: folder, date range, camera, tag and keyword controls that
// set the `filter` trait (lib.where's arguments; the kernel validates and answers with
// `filter_count` and `_filter_mask`), the count of matches, and "More like these" / "Less like
// these" for the selection. The dim layer darkens every image the filter leaves out.

import { canvasLayer } from "./layer.js";

/** @typedef {import("./types").Model} Model */

/**
 * The filter the controls describe (empty fields left out).
 * @param {{folder: string, from: string, to: string, camera: string, tag: string, keyword: string}} v
 * @returns {Record<string, unknown>}
 */
export function filterFrom(v) {
  /** @type {Record<string, unknown>} */
  const f = {};
  if (v.folder) f.folder = v.folder;
  if (v.from || v.to) f.taken = [v.from || null, v.to || null];
  if (v.camera) f.camera = [v.camera];
  if (v.tag) f.tags = [v.tag];
  if (v.keyword.trim()) f.keywords = [v.keyword.trim()];
  return f;
}

/** The first item of a filter field (a string or a list). @param {unknown} v @returns {string} */
const first = (v) => (Array.isArray(v) ? String(v[0] ?? "") : typeof v === "string" ? v : "");

/**
 * Count text: "312 of 7,590 match" (empty without a filter).
 * @param {number | null} count @param {number} n @returns {string}
 */
export function countText(count, n) {
  if (count === null || count === undefined) return "";
  return `${count.toLocaleString("en")} of ${n.toLocaleString("en")} match`;
}

/**
 * The packed match bits of `_filter_mask` (np.packbits order) as a byte array; null: no filter.
 * @param {unknown} raw @returns {Uint8Array | null}
 */
export function readMask(raw) {
  if (raw instanceof DataView) return raw.byteLength ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  if (raw instanceof ArrayBuffer) return raw.byteLength ? new Uint8Array(raw) : null;
  if (ArrayBuffer.isView(raw)) return raw.byteLength ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  return null;
}

/** Row `row` matches in `mask`. @param {Uint8Array} mask @param {number} row */
export const matches = (mask, row) => ((mask[row >> 3] ?? 0) >> (7 - (row & 7))) & 1;

/**
 * An image one pixel per grid cell, opaque where a cell's image is filtered out.
 * @param {Uint8Array} mask @param {ArrayLike<number>} cells @param {number} n
 * @param {number} rows @param {number} cols @returns {Uint8ClampedArray<ArrayBuffer>} RGBA
 */
export function dimPixels(mask, cells, n, rows, cols) {
  const px = new Uint8ClampedArray(rows * cols * 4);
  for (let row = 0; row < n; row++) {
    if (matches(mask, row)) continue;
    const r = cells[2 * row], c = cells[2 * row + 1];
    if (r < 0 || c < 0 || r >= rows || c >= cols) continue;
    px[(r * cols + c) * 4 + 3] = 255;
  }
  return px;
}

/** @param {string} tag @param {Record<string, string>} [attrs] @param {...(Node|string)} kids */
function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...kids);
  return e;
}

/** @param {HTMLSelectElement} sel @param {string} any @param {string[]} items @param {string} value */
function fillSelect(sel, any, items, value) {
  const key = JSON.stringify([any, items]);
  if (sel.dataset.key !== key) {
    sel.dataset.key = key;
    sel.replaceChildren(h("option", { value: "" }, any), ...items.map((it) => h("option", { value: it }, it)));
  }
  if (value && !items.includes(value)) sel.append(h("option", { value }, value));
  sel.value = value;
}

/**
 * Build the filter bar and the dim layer.
 * @param {{model: Model, stage: HTMLElement, before: Element, store: import("./store").Store<import("./types").MapState>,
 *   size: () => import("./types").Size, grid: {rows: number, cols: number, n: number, cells: ArrayLike<number>},
 *   send: (msg: import("./types").Request) => void}} deps
 */
export function buildFilterBar({ model, stage, before, store, size, grid, send }) {
  const folder = /** @type {HTMLSelectElement} */ (h("select", { class: "vv-f-folder", title: "Only this folder (and below)" }));
  const from = /** @type {HTMLInputElement} */ (h("input", { class: "vv-f-from", type: "date", title: "Taken on or after" }));
  const to = /** @type {HTMLInputElement} */ (h("input", { class: "vv-f-to", type: "date", title: "Taken on or before" }));
  const camera = /** @type {HTMLSelectElement} */ (h("select", { class: "vv-f-camera", title: "Only this camera" }));
  const tag = /** @type {HTMLSelectElement} */ (h("select", { class: "vv-f-tag", title: "Only images with this tag" }));
  const listId = `vv-kw-${Math.random().toString(36).slice(2)}`;
  const keyword = /** @type {HTMLInputElement} */ (h("input", { class: "vv-f-keyword", type: "search", list: listId, placeholder: "keyword", title: "Only images with this keyword (Enter)" }));
  const words = h("datalist", { id: listId });
  const count = h("span", { class: "vv-f-count" });
  const clear = h("button", { class: "vv-f-clear", title: "Clear the filter" }, "✕");
  const noteEl = h("span", { class: "vv-f-note" });
  const more = /** @type {HTMLButtonElement} */ (h("button", { class: "vv-more", title: "Highlight images like the selected ones" }, "More like these"));
  const less = /** @type {HTMLButtonElement} */ (h("button", { class: "vv-less", title: "Rank again, away from the selected images" }, "Less like these"));
  const el = h("div", { class: "vv-filterbar" }, "Filter ", folder, from, "–", to, camera, tag, keyword, words, count, clear, more, less, noteEl);

  const push = () => {
    model.set("filter", filterFrom({ folder: folder.value, from: from.value, to: to.value, camera: camera.value, tag: tag.value, keyword: keyword.value }));
    model.save_changes();
  };
  for (const c of [folder, from, to, camera, tag]) c.addEventListener("change", push);
  keyword.addEventListener("change", push);
  keyword.addEventListener("keydown", (e) => { e.stopPropagation(); if (e.key === "Enter") push(); });
  clear.addEventListener("click", () => { model.set("filter", {}); model.save_changes(); });
  more.addEventListener("click", () => send({ type: "like", more: true }));
  less.addEventListener("click", () => send({ type: "like", more: false }));

  let mask = readMask(model.get("_filter_mask"));
  /** @type {HTMLCanvasElement | null} */
  let cellImage = null;
  const rebuild = () => {
    mask = readMask(model.get("_filter_mask"));
    cellImage = null;
    if (!mask || !grid.n) return;
    cellImage = document.createElement("canvas");
    cellImage.width = grid.cols;
    cellImage.height = grid.rows;
    const ctx = cellImage.getContext("2d");
    ctx?.putImageData(new ImageData(dimPixels(mask, grid.cells, grid.n, grid.rows, grid.cols), grid.cols, grid.rows), 0, 0);
  };
  const layer = canvasLayer({
    stage, before, className: "vv-filter-dim", store, size,
    draw(ctx, st) {
      layer.canvas.dataset.filtered = cellImage ? "1" : "0";
      if (!cellImage) return;
      const v = st.view;
      ctx.imageSmoothingEnabled = false;
      ctx.globalAlpha = 0.78;
      ctx.drawImage(cellImage, v.tx, v.ty, grid.cols * v.scale, grid.rows * v.scale);
      ctx.globalAlpha = 1;
    },
  });
  rebuild();

  function sync() {
    const opts = model.get("_filter_options") || {};
    const f = model.get("filter") || {};
    fillSelect(folder, "all folders", opts.folders || [], first(f.folder));
    fillSelect(camera, "any camera", opts.cameras || [], first(f.camera));
    fillSelect(tag, "any tag", opts.tags || [], first(f.tags));
    const taken = Array.isArray(f.taken) ? f.taken : [null, null];
    from.value = typeof taken[0] === "string" ? taken[0].slice(0, 10) : "";
    to.value = typeof taken[1] === "string" ? taken[1].slice(0, 10) : "";
    if (Array.isArray(opts.taken)) { from.min = to.min = opts.taken[0]; from.max = to.max = opts.taken[1]; }
    if (document.activeElement !== keyword) keyword.value = first(f.keywords);
    const list = opts.keywords || [];
    if (words.dataset.key !== String(list.length) + list[0]) {
      words.dataset.key = String(list.length) + list[0];
      words.replaceChildren(...list.map((/** @type {string} */ k) => h("option", { value: k })));
    }
    count.textContent = countText(model.get("filter_count"), grid.n);
    clear.style.display = Object.keys(f).length ? "" : "none";
    if (model.get("_hit_what") || model.get("error")) noteEl.textContent = "";
    const none = !(model.get("selected") || []).length;
    more.disabled = none;
    less.disabled = none;
  }
  const onMask = () => { rebuild(); layer.request(); };
  const events = ["change:filter", "change:filter_count", "change:_filter_options", "change:selected", "change:_hit_what", "change:error"];
  for (const ev of events) model.on(ev, sync);
  model.on("change:_filter_mask", onMask);
  sync();
  return {
    el, sync,
    /** A short notice beside the buttons (a refused drop, a query under way). @param {string} text */
    note(text) { noteEl.textContent = text; },
    /** The cells changed: the dim image and the count follow them. */
    cellsChanged() { onMask(); sync(); },
    dispose() {
      for (const ev of events) model.off(ev, sync);
      model.off("change:_filter_mask", onMask);
      layer.dispose();
    },
  };
}
