// Toolbar: layout mode, hybrid weight, search (hit count, Enter fits the hits, Esc clears; both
// hand the keyboard back to the map so Shift+Hover works at once), colour, k, zoom buttons and the
// zoom indicator (% of actual size; click: 1:1), rescan (Shift+click: re-embed everything), live
// progress with a label (and images/s and time left while scanning).

/** @typedef {import("./types").Model} Model @typedef {import("./types").ModeSpec} ModeSpec */
/** @typedef {import("./types").ToolbarActions} ToolbarActions */

const HINT = "Shift + hover: similar images · click: select · Ctrl/⌘ + drag: add · Alt + drag: replace · "
  + "Ctrl/⌘ + Alt + drag: remove · drag: pan · wheel: zoom";
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
  if (!query && !colour) return `${hits} highlighted`; // w.highlight(rows) from Python
  const what = query ? `“${query.length > 24 ? query.slice(0, 23) + "…" : query}”` : colour;
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
 * "3 min 20 s" / "45 s" / "1 h 5 min" from seconds.
 * @param {number} s @returns {string}
 */
export function fmtDuration(s) {
  const t = Math.max(0, Math.round(s));
  if (t < 60) return `${t} s`;
  if (t < 3600) return `${Math.floor(t / 60)} min${t % 60 ? ` ${t % 60} s` : ""}`;
  const m = Math.round(t / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ""}`;
}

/**
 * Speed and time left of a job that went from `done0` to `done` of `total` in `seconds`;
 * "" until there is something to measure.
 * @param {number} done @param {number} total @param {number} done0 @param {number} seconds
 * @returns {string}
 */
export function rateText(done, total, done0, seconds) {
  if (!(seconds > 0.5) || !(done > done0) || !(total > 0)) return "";
  const rate = (done - done0) / seconds;
  const speed = rate >= 10 ? rate.toFixed(0) : rate.toFixed(1);
  return `${speed} images/s · ${fmtDuration(Math.max(0, total - done) / rate)} left`;
}

/**
 * What the progress dict says: status parts, the bar's label and fraction (null: no bar).
 * `scanRate` (optional) is the scan's speed text ("12 images/s · 3 min left").
 * @param {Record<string, any>} p @param {string} [scanRate]
 * @returns {{parts: string[], frac: number | null, label: string}}
 */
export function progressText(p, scanRate = "") {
  /** @type {string[]} */
  const parts = [];
  /** @type {number | null} */
  let frac = null;
  let label = "";
  /** @param {unknown} v @returns {v is [number, number]} */
  const pair = (v) => Array.isArray(v) && v.length >= 2 && v.every((x) => typeof x === "number");
  if (p.scan) {
    const ok = pair(p.scan) && p.scan[1] > 0;
    parts.push(ok ? `scanning ${p.scan[0]}/${p.scan[1]} images` : "looking for new and changed images…");
    if (ok && scanRate) parts.push(scanRate);
    frac = ok ? p.scan[0] / p.scan[1] : 0;
    label = "scan";
  }
  if (pair(p.som)) { // [0, 1] before the first epoch: no epoch count yet
    const [i, n] = p.som;
    parts.push(n > 1 ? `arranging the map (pass ${i} of ${n})` : "arranging similar images side by side…");
    if (frac === null) { frac = n ? i / n : 0; label = "map"; }
  }
  if (pair(p.thumbs)) {
    parts.push(`loading thumbnails ${p.thumbs[0]}/${p.thumbs[1]}`);
    if (frac === null) { frac = p.thumbs[1] ? p.thumbs[0] / p.thumbs[1] : 0; label = "thumbnails"; }
  }
  if (p.table === "computing") parts.push("preparing Shift+Hover…");
  if (p.duplicates === "computing") parts.push("finding duplicates…");
  return { parts, frac, label };
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
    class: "vv-weight", type: "range", min: "0", max: "1", step: "0.05",
    "aria-label": "Hybrid weight: share of look against meaning",
    onchange: () => save("hybrid_weight", Number(weight.value)),
  });
  const weightLabel = h("label", {
    class: "vv-weight-label",
    title: "Hybrid: how much look (DINOv2) counts against meaning (SigLIP), for the map and Shift+Hover",
  }, "meaning ", weight, " look");
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
    // the search is done: the keyboard goes back to the map (Shift is Shift+Hover again, not typing)
    if (e.key === "Enter" || e.key === "Escape") actions.focusMap?.();
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
  const zoomLevel = h("button", {
    class: "vv-zoom-level",
    title: "Zoom, as % of actual size (100%: one thumbnail pixel per screen pixel, the image's own "
      + "size for icons and small images). Click or press 1 for 1:1",
    onclick: () => actions.actualSize?.(),
  }, "");
  const rescan = h("button", { class: "vv-rescan" }, "⟳");
  rescan.addEventListener("click", (e) => {
    if (!e.shiftKey) return actions.rescan(false);
    const ask = actions.confirm ?? ((/** @type {string} */ t) => window.confirm(t));
    if (ask(FORCE_CONFIRM)) actions.rescan(true);
  });
  const bar = h("progress", { class: "vv-progress", max: "1", value: "0" });
  const barName = h("span", { class: "vv-progress-name" });
  const barLabel = h("label", { class: "vv-progress-label" }, barName, " ", bar);
  const status = h("span", { class: "vv-status" });
  const el = h("div", { class: "vv-toolbar" },
    modes, weightLabel, search, h("span", { class: "vv-search-result" }, hits, showMore, clear),
    h("label", { class: "vv-colour-label", title: "Find images with this colour" }, "colour ", colour),
    h("label", { class: "vv-k-label", title: "Neighbours shown by Shift+Hover" }, "k ", k),
    h("span", { class: "vv-zoom" }, zoomOut, zoomLevel, zoomIn, fit), rescan, barLabel, status);

  /** Where the running scan started: its speed is measured from there. */
  let scanFrom = { done: -1, t: 0 };
  /** @param {Record<string, any>} p @returns {string} */
  function scanRate(p) {
    const s = Array.isArray(p.scan) ? p.scan : null;
    if (!s || typeof s[0] !== "number" || typeof s[1] !== "number" || !(s[1] > 0)) {
      scanFrom = { done: -1, t: 0 };
      return "";
    }
    const now = performance.now();
    if (scanFrom.done < 0 || s[0] < scanFrom.done) scanFrom = { done: s[0], t: now };
    return rateText(s[0], s[1], scanFrom.done, (now - scanFrom.t) / 1000);
  }

  /** The zoom indicator. @param {string} text */
  function setZoom(text) {
    zoomLevel.textContent = text;
  }

  function sync() {
    syncModes();
    const mode = model.get("mode");
    for (const b of modeBtns) b.classList.toggle("vv-active", b.dataset.mode === mode);
    weightLabel.style.display = mode === "hybrid" ? "" : "none";
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
    const p = model.get("progress") || {};
    const { parts, frac, label } = progressText(p, scanRate(p));
    barLabel.style.display = frac === null ? "none" : "";
    barName.textContent = label;
    bar.setAttribute("aria-label", label ? `${label} progress` : "progress");
    bar.value = frac ?? 0;
    const notice = String(model.get("status") ?? ""); // the kernel's last notice ("saved …")
    if (notice) parts.push(notice);
    status.textContent = parts.length ? parts.join(" · ") : HINT;
    status.classList.toggle("vv-hint", !parts.length);
  }
  return { el, sync, search, colourSearch, setZoom };
}
