// The neighbour panel: while Shift+Hover is active, the hovered image and its k neighbours,
// large (whatever the zoom), with rank, cosine score and file name, in a strip just below the
// map (outside it: it never hides a neighbour, and the map keeps its size). It stays after Shift
// is released, so its images can be clicked: a click centres the map on that image (✕ closes
// the panel). Owns the store's `panel`.

import { askSharp, paintThumb, thumbCanvas } from "./thumbcanvas.js";

/** @typedef {import("./types").Model} Model @typedef {import("./types").MapState} MapState */
/** @typedef {import("./types").View} View @typedef {import("./types").ZoomLimits} ZoomLimits */

export const PANEL_PX = 96;
/** A click in the panel zooms in to at least this many CSS px per cell (the image readable). */
export const CENTRE_MIN_PX = 64;

/**
 * The view centred on `row`'s cell, zoomed in to at least `minPx` per cell within `limits`;
 * null when the row has no cell.
 * @param {View} view @param {ArrayLike<number>} cells @param {number} row
 * @param {number} w @param {number} h @param {ZoomLimits} limits @returns {View | null}
 */
export function centreOn(view, cells, row, w, h, limits, minPx = CENTRE_MIN_PX) {
  if (!(row >= 0) || 2 * row + 1 >= cells.length) return null;
  const scale = Math.min(limits.max, Math.max(limits.min, view.scale, minPx));
  const r = cells[2 * row], c = cells[2 * row + 1];
  return { scale, tx: w / 2 - (c + 0.5) * scale, ty: h / 2 - (r + 0.5) * scale };
}

/**
 * @param {{model: Model, store: import("./store").Store<MapState>,
 *   grid: import("./grid").GridRenderer, size: () => import("./types").Size,
 *   view: ReturnType<typeof import("./view").viewControl>}} deps
 */
export function neighbourPanel({ model, store, grid, size, view }) {
  const el = document.createElement("div");
  el.className = "vv-nbpanel";
  el.style.display = "none";
  const head = document.createElement("div");
  head.className = "vv-nbpanel-head";
  const title = document.createElement("span");
  const close = document.createElement("button");
  close.className = "vv-nbpanel-close";
  close.textContent = "✕";
  close.title = "Close the panel";
  head.append(title, close);
  const list = document.createElement("div");
  list.className = "vv-nbpanel-list";
  el.append(head, list);
  /** @type {Map<number, string>} */
  const names = new Map();
  const asked = new Set();
  let shownKey = "";

  close.addEventListener("click", () => store.set({ panel: null }));

  /** @param {number} row */
  function centre(row) {
    const { w, h } = size();
    const v = centreOn(store.get().view, grid.cells, row, w, h, view.limits());
    if (v) view.setView(v);
  }

  function render() {
    const { panel, dpr, sharpSizes } = store.get();
    if (!panel) {
      el.style.display = "none";
      shownKey = "";
      return;
    }
    const items = [{ row: panel.row, rank: 0, score: 1 }, ...panel.nbrs];
    const key = items.map((i) => i.row).join(",");
    el.style.display = "";
    if (key !== shownKey) {
      shownKey = key;
      title.textContent = `${panel.nbrs.length} most similar`;
      list.replaceChildren(...items.map((it) => {
        const card = document.createElement("div");
        card.className = it.rank ? "vv-nb" : "vv-nb vv-nb-hovered";
        card.dataset.row = String(it.row);
        card.title = "Click: centre the map on this image";
        const caption = document.createElement("div");
        caption.className = "vv-nb-caption";
        const label = it.rank ? `${it.rank} · ${it.score.toFixed(3)}` : "hovered";
        const nameEl = document.createElement("div");
        nameEl.className = "vv-nb-name";
        nameEl.textContent = names.get(it.row) ?? "…";
        caption.append(label, nameEl);
        card.append(thumbCanvas(it.row, PANEL_PX), caption);
        card.addEventListener("click", () => centre(it.row));
        return card;
      }));
      const unnamed = items.map((i) => i.row).filter((r) => !names.has(r));
      if (unnamed.length) model.send({ type: "names", rows: unnamed });
      askSharp(model, grid, items.map((i) => i.row), PANEL_PX, dpr, sharpSizes, asked);
    }
    redraw();
  }

  /** Repaint the thumbnails (sharp ones may have arrived). */
  function redraw() {
    if (!store.get().panel) return;
    const { dpr } = store.get();
    for (const c of list.querySelectorAll("canvas")) paintThumb(/** @type {HTMLCanvasElement} */ (c), grid, dpr);
  }

  /** @param {any} msg */
  const onCustom = (msg) => {
    if (!msg || msg.type !== "names" || msg.version !== store.get().version) return;
    if (!Array.isArray(msg.rows) || !Array.isArray(msg.names)) return;
    msg.rows.forEach((/** @type {number} */ r, /** @type {number} */ i) => names.set(r, String(msg.names[i])));
    for (const card of list.querySelectorAll(".vv-nb")) {
      const name = names.get(Number(/** @type {HTMLElement} */ (card).dataset.row));
      const nameEl = card.querySelector(".vv-nb-name");
      if (name !== undefined && nameEl) nameEl.textContent = name;
    }
  };
  model.on("msg:custom", onCustom);

  const unwatch = [
    store.watch(["hover"], (st) => { if (st.hover && st.hover.row >= 0) store.set({ panel: st.hover }); }),
    store.watch(["panel"], render),
    store.watch(["version"], () => { names.clear(); asked.clear(); store.set({ panel: null }); }),
  ];
  return {
    el, redraw,
    dispose() {
      unwatch.forEach((u) => u());
      model.off("msg:custom", onCustom);
    },
  };
}
