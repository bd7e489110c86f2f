// Toolbar: layout mode, hybrid weight, search (hit count, Enter fits the hits, Esc clears),
// colour, k, zoom buttons, rescan (Shift+click: re-embed everything), live progress.

/** @typedef {import("./types").Model} Model @typedef {import("./types").ModeSpec} ModeSpec */
/** @typedef {import("./types").ToolbarActions} ToolbarActions */

const HINT = "Shift + hover: similar images · Ctrl + drag: select · wheel: zoom";
export const FORCE_CONFIRM = "Rescan everything? Every image is re-embedded, not only new and "
  + "changed files (about 3 images/s on a CPU).";

/**
 * Mode buttons from the `_modes` trait: [name, label, tooltip] triples (Python's
 * modes.MODE_INFO, the one definition); malformed or repeated entries are skipped.
 * @param {unknown} value @returns {ModeSpec[]}
 */
export function modeSpecs(value) {
  /** @type {ModeSpec[]} */
  const out = [];
  for (const m of Array.isArray(value) ? value : []) {
    if (!Array.isArray(m) || !m.slice(0, 3).every((part) => typeof part === "string") || !m[0]) continue;
    if (out.some(([n]) => n === m[0])) continue;
    out.push([m[0], m[1] || m[0], m[2] ?? ""]);
  }
  return out;
}

/**
 * Status text of a search: "" when none is active, else how many images are shown and, for a
 * text search, how many match (`total`, trait `search_total`): "24 of 312 for “blue”".
 * `source` (trait `_hit_what`) names a ranking that is not the search box ("image cat.jpg").
 * @param {string} query @param {string} colour @param {number} hits
 * @param {number | null} [total] @param {string} [source] @returns {string}
 */
export function hitText(query, colour, hits, total = null, source = "") {
  if (!query && !colour && !hits) return "";
  if (!query && !colour && source) return `${hits} most like ${source}`;
  const what = query ? `“${query.length > 24 ? query.slice(0, 23) + "…" : query}”` : colour || "highlight";
  if (query && typeof total === "number") {
    if (total === 0) return hits ? `no match for ${what} · ${hits} nearest` : `no match for ${what}`;
    if (total > hits) return `${hits} of ${total.toLocaleString("en")} for ${what}`;
  }
  if (!hits) return `no match for ${what}`;
  return `${hits} ${hits === 1 ? "hit" : "hits"} for ${what}`;
}

/**
 * The `search_k` that "show more" asks for (twice as many, up to the matches and 10,000); 0
 * when everything that matches is shown.
 * @param {number} shown @param {number | null} total @param {number} searchK @returns {number}
 */
export function moreK(shown, total, searchK) {
  if (typeof total !== "number" || total <= shown) return 0;
  return Math.min(10000, total, Math.max(searchK * 2, shown + 1));
}

/**
 * What the progress dict says: status parts and a progress fraction (null: no bar).
 * @param {Record<string, any>} p @returns {{parts: string[], frac: number | null}}
 */
export function progressText(p) {
  /** @type {string[]} */
  const parts = [];
  /** @type {number | null} */
  let frac = null;
  /** @param {unknown} v @returns {v is [number, number]} */
  const pair = (v) => Array.isArray(v) && v.length >= 2 && v.every((x) => typeof x === "number");
  if (p.scan) {
    const ok = pair(p.scan) && p.scan[1] > 0;
    parts.push(ok ? `rescanning ${p.scan[0]}/${p.scan[1]}` : "rescanning…");
    frac = ok ? p.scan[0] / p.scan[1] : 0;
  }
  for (const [key, name] of [["som", "training map"], ["thumbs", "thumbnails"]]) {
    if (!pair(p[key])) continue;
    parts.push(`${name} ${p[key][0]}/${p[key][1]}`);
    if (frac === null) frac = p[key][1] ? p[key][0] / p[key][1] : 0;
  }
  if (p.table === "computing") parts.push("preparing Shift+Hover…");
  return { parts, frac };
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {Record<string, any>} [attrs] @param {...(Node|string)} kids
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const kid of kids) e.append(kid);
  return e;
}

/**
 * Build the toolbar and wire its inputs to the model.
 * @param {Model} model @param {ToolbarActions} actions
 */
export function buildToolbar(model, actions) {
  /** @param {string} key @param {unknown} value */
  const save = (key, value) => {
    model.set(key, value);
    model.save_changes();
  };
  const modes = h("span", { class: "vv-modes" });
  /** @type {HTMLButtonElement[]} */
  let modeBtns = [];
  let modeKey = "";
  function syncModes() {
    const specs = modeSpecs(model.get("_modes"));
    const key = JSON.stringify(specs);
    if (key === modeKey) return;
    modeKey = key;
    modeBtns = specs.map(([mode, text, title]) =>
      h("button", { class: "vv-mode", "data-mode": mode, title, onclick: () => save("mode", mode) }, text));
    modes.replaceChildren(...modeBtns);
  }
  const weight = h("input", {
    class: "vv-weight", type: "range", min: "0", max: "1", step: "0.05", title: "Hybrid: share of look",
    onchange: () => save("hybrid_weight", Number(weight.value)),
  });
  const search = h("input", {
    class: "vv-search", type: "search", placeholder: "Search…",
    title: "Text search (Enter; Enter again fits the view to the hits); Esc clears",
  });
  search.addEventListener("keydown", (e) => {
    e.stopPropagation(); // typing here is not a notebook shortcut nor a map key
    if (e.key === "Enter") {
      const q = search.value.trim();
      if (q && q === model.get("query") && (model.get("highlighted") || []).length) actions.fitHits?.();
      else {
        actions.searched?.();
        save("query", q);
      }
    }
    if (e.key === "Escape") {
      search.value = "";
      actions.clearHighlights();
    }
  });
  const colour = h("input", {
    class: "vv-colour", type: "color", title: "Find images with this colour",
    onchange: () => colourSearch(colour.value),
  });
  /** Start a colour search (toolbar picker, tooltip swatch). @param {string} hex */
  function colourSearch(hex) {
    colour.value = hex;
    actions.searched?.();
    save("colour_query", hex);
  }
  const k = h("input", {
    class: "vv-k", type: "number", min: "1", max: "100", title: "Neighbours shown by Shift+Hover",
    onchange: () => save("k", Math.max(1, Math.min(100, Math.round(Number(k.value)) || 10))),
  });
  const hits = h("span", { class: "vv-hits" });
  const showMore = h("button", { class: "vv-more-hits", title: "Highlight more of the matching images (search_k)", onclick: () => {
    const k = moreK((model.get("highlighted") || []).length, model.get("search_total"), model.get("search_k"));
    if (k) save("search_k", k);
  } }, "show more");
  const clear = h("button", { class: "vv-clear", title: "Clear the search (Esc)", onclick: () => {
    search.value = "";
    actions.clearHighlights();
  } }, "✕");
  const zoomOut = h("button", { class: "vv-zoom-out", title: "Zoom out (−)", onclick: () => actions.zoom(1 / 1.5) }, "−");
  const zoomIn = h("button", { class: "vv-zoom-in", title: "Zoom in (+)", onclick: () => actions.zoom(1.5) }, "+");
  const fit = h("button", { class: "vv-fit", title: "Fit the whole map (0)", onclick: () => actions.fit() }, "⤢");
  const rescan = h("button", { class: "vv-rescan" }, "⟳");
  rescan.addEventListener("click", (e) => {
    if (!e.shiftKey) return actions.rescan(false);
    const ask = actions.confirm ?? ((/** @type {string} */ t) => window.confirm(t));
    if (ask(FORCE_CONFIRM)) actions.rescan(true);
  });
  const bar = h("progress", { class: "vv-progress", max: "1", value: "0" });
  const status = h("span", { class: "vv-status" });
  const el = h("div", { class: "vv-toolbar" },
    modes, weight, search, h("span", { class: "vv-search-result" }, hits, showMore, clear),
    h("label", { class: "vv-colour-label", title: "Find images with this colour" }, "colour ", colour),
    h("label", { class: "vv-k-label", title: "Neighbours shown by Shift+Hover" }, "k ", k),
    h("span", { class: "vv-zoom" }, zoomOut, zoomIn, fit), rescan, bar, status);

  function sync() {
    syncModes();
    const mode = model.get("mode");
    for (const b of modeBtns) b.classList.toggle("vv-active", b.dataset.mode === mode);
    weight.style.display = mode === "hybrid" ? "" : "none";
    weight.value = String(model.get("hybrid_weight"));
    k.value = String(model.get("k"));
    const query = String(model.get("query") ?? "");
    const colourQuery = String(model.get("colour_query") ?? "");
    if (document.activeElement !== search) search.value = query;
    if (/^#[0-9a-f]{6}$/i.test(colourQuery)) colour.value = colourQuery.toLowerCase();
    const n = (model.get("highlighted") || []).length;
    const total = model.get("search_total") ?? null;
    hits.textContent = hitText(query, colourQuery, n, total, String(model.get("_hit_what") ?? ""));
    showMore.style.display = query && moreK(n, total, model.get("search_k")) ? "" : "none";
    clear.style.display = hits.textContent ? "" : "none";
    fit.title = n ? "Fit the view to the hits (again: the whole map; 0: whole map)" : "Fit the whole map (0)";
    const can = model.get("_can_rescan");
    rescan.disabled = !can;
    rescan.title = can ? "Rescan: new and changed files (Shift+click: re-embed everything)"
      : "Rescan needs encoders: VectorVision(lib, encoders=vv.Encoders.load())";
    const { parts, frac } = progressText(model.get("progress") || {});
    bar.style.display = frac === null ? "none" : "";
    bar.value = frac ?? 0;
    const notice = String(model.get("status") ?? ""); // the kernel's last notice ("saved …")
    if (notice) parts.push(notice);
    status.textContent = parts.length ? parts.join(" · ") : HINT;
    status.classList.toggle("vv-hint", !parts.length);
  }
  return { el, sync, search, colourSearch };
}
