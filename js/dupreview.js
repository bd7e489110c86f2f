// The duplicate review: a panel over the map with each duplicate group (exact / near / similar,
// from the `_duplicate_review` trait) side by side, its suggested keeper marked, and a click to
// keep another image instead; the choices go back to Python (`_duplicate_choices`, read as
// `w.duplicate_choices`). Nothing is deleted, here or in Python.

import { askSharp, paintThumb, thumbCanvas } from "./thumbcanvas.js";

/** @typedef {import("./types").Model} Model @typedef {import("./types").MapState} MapState */
/**
 * @typedef {{row: number, name: string, width: number | null, height: number | null,
 *   size: number | null, taken: string | null}} DupItem
 * @typedef {{tier: string, rows: number[], suggested: number, items: DupItem[]}} DupGroup
 */

export const REVIEW_PX = 120;
/** Groups drawn at first; "show more" adds as many again. */
export const PAGE = 60;

/**
 * The review trait as groups, malformed entries dropped.
 * @param {any} value @returns {{serial: number, groups: DupGroup[]}}
 */
export function readReview(value) {
  const serial = typeof value?.serial === "number" ? value.serial : 0;
  const groups = (Array.isArray(value?.groups) ? value.groups : []).filter((/** @type {any} */ g) =>
    g && typeof g.tier === "string" && Array.isArray(g.rows) && Array.isArray(g.items)
    && g.rows.includes(g.suggested));
  return { serial, groups };
}

/**
 * The choices after the user keeps `row` in group `index` (a new array; unchanged when the row
 * is not in that group).
 * @param {number[]} choices @param {DupGroup[]} groups @param {number} index @param {number} row
 * @returns {number[]}
 */
export function choose(choices, groups, index, row) {
  if (!groups[index] || !groups[index].rows.includes(row)) return choices;
  const out = groups.map((g, i) => (Number.isInteger(choices[i]) ? choices[i] : g.suggested));
  out[index] = row;
  return out;
}

/**
 * "4000×3000 · 2.1 MB · 2023-07-01" for an item (parts that are unknown left out).
 * @param {DupItem} it @returns {string}
 */
export function itemFacts(it) {
  const parts = [];
  if (it.width && it.height) parts.push(`${it.width}×${it.height}`);
  if (it.size) {
    const kb = it.size / 1024;
    parts.push(kb >= 1024 ? `${(kb / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(kb))} kB`);
  }
  if (it.taken) parts.push(it.taken.slice(0, 10));
  return parts.join(" · ");
}

/**
 * @param {{model: Model, store: import("./store").Store<MapState>,
 *   grid: import("./grid").GridRenderer}} deps
 */
export function duplicateReview({ model, store, grid }) {
  const button = document.createElement("button");
  button.className = "vv-dups";
  button.textContent = "Duplicates";
  button.title = "Review duplicate groups (exact, near, similar): choose which image to keep; nothing is deleted";
  const el = document.createElement("div");
  el.className = "vv-dupreview";
  el.style.display = "none";
  const head = document.createElement("div");
  head.className = "vv-dup-head";
  const title = document.createElement("span");
  const close = document.createElement("button");
  close.className = "vv-dup-close";
  close.textContent = "✕";
  close.title = "Close the review (the choices stay in w.duplicate_choices)";
  head.append(title, close);
  const list = document.createElement("div");
  list.className = "vv-dup-list";
  const more = document.createElement("button");
  more.className = "vv-dup-more";
  el.append(head, list, more);
  const asked = new Set();
  let serial = readReview(model.get("_duplicate_review")).serial;
  let shown = 0;
  let waiting = false;

  for (const type of ["pointerdown", "pointermove", "pointerup", "wheel", "click", "dblclick", "keydown"]) {
    el.addEventListener(type, (e) => e.stopPropagation());
  }
  button.addEventListener("click", () => {
    waiting = true;
    button.textContent = "Duplicates…";
    model.send({ type: "review" });
  });
  close.addEventListener("click", () => { el.style.display = "none"; });
  more.addEventListener("click", () => render(shown + PAGE));

  /** @param {number} upto how many groups to draw */
  function render(upto) {
    const { groups } = readReview(model.get("_duplicate_review"));
    const choices = /** @type {number[]} */ (model.get("_duplicate_choices") || []);
    const counts = ["exact", "near", "similar"].map((t) => `${t} ${groups.filter((g) => g.tier === t).length}`);
    title.textContent = `${groups.length} duplicate group${groups.length === 1 ? "" : "s"} (${counts.join(", ")}). `
      + "Suggested keeper: largest image, then largest file, then oldest. Click an image to keep it; "
      + "the choices are w.duplicate_choices. Nothing is deleted.";
    shown = Math.min(upto, groups.length);
    list.replaceChildren(...groups.slice(0, shown).map((g, i) => {
      const box = document.createElement("div");
      box.className = "vv-dup-group";
      box.dataset.group = String(i);
      const label = document.createElement("div");
      label.className = "vv-dup-label";
      label.textContent = `#${i} · ${g.tier}`;
      const row = document.createElement("div");
      row.className = "vv-dup-items";
      for (const it of g.items) {
        const kept = (Number.isInteger(choices[i]) ? choices[i] : g.suggested) === it.row;
        const card = document.createElement("div");
        card.className = `vv-dup-item${kept ? " vv-dup-kept" : ""}`;
        card.dataset.row = String(it.row);
        card.title = kept ? "kept" : "Click: keep this image instead";
        const badge = document.createElement("div");
        badge.className = "vv-dup-badge";
        badge.textContent = [kept ? "✓ keep" : "", it.row === g.suggested ? "suggested" : ""].filter(Boolean).join(" · ");
        const name = document.createElement("div");
        name.className = "vv-dup-name";
        name.textContent = it.name;
        const facts = document.createElement("div");
        facts.className = "vv-dup-facts";
        facts.textContent = itemFacts(it);
        card.append(thumbCanvas(it.row, REVIEW_PX), badge, name, facts);
        card.addEventListener("click", () => {
          const next = choose(model.get("_duplicate_choices") || [], groups, i, it.row);
          model.set("_duplicate_choices", next);
          model.save_changes();
          render(shown);
        });
        row.append(card);
      }
      box.append(label, row);
      return box;
    }));
    more.style.display = shown < groups.length ? "" : "none";
    more.textContent = `show ${Math.min(PAGE, groups.length - shown)} more of ${groups.length - shown}`;
    const { dpr, sharpSizes } = store.get();
    askSharp(model, grid, groups.slice(0, shown).flatMap((g) => g.rows), REVIEW_PX, dpr, sharpSizes, asked);
    redraw();
  }

  /** Repaint the thumbnails (sharp ones may have arrived). */
  function redraw() {
    if (el.style.display === "none") return;
    const { dpr } = store.get();
    for (const c of list.querySelectorAll("canvas")) paintThumb(/** @type {HTMLCanvasElement} */ (c), grid, dpr);
  }

  /** Trait `_duplicate_review` changed: a new review opens the panel. */
  function reviewChanged() {
    const review = readReview(model.get("_duplicate_review"));
    button.textContent = "Duplicates";
    if (review.serial === serial && !waiting) {
      if (!review.serial) el.style.display = "none"; // the library changed: the review is gone
      return;
    }
    serial = review.serial;
    waiting = false;
    if (!review.serial) return;
    asked.clear();
    el.style.display = "";
    render(PAGE);
  }

  /** Trait `_duplicate_choices` changed (from Python, or our own change coming back). */
  function choicesChanged() {
    if (el.style.display !== "none") render(shown);
  }

  model.on("change:_duplicate_review", reviewChanged);
  model.on("change:_duplicate_choices", choicesChanged);
  return {
    button, el, redraw,
    dispose() {
      model.off("change:_duplicate_review", reviewChanged);
      model.off("change:_duplicate_choices", choicesChanged);
    },
  };
}
