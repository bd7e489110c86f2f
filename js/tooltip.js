// Tooltip on plain hover: a larger thumbnail, file name and its folder (named from the scan root,
// so four vendors' flushed.png differ), date and camera when known, keywords with scores,
// palette, size.
// Details come from the kernel once per row ("info" request) and are cached. Record fields come
// from user files (any JSON), so every field is cleaned before use (cleanMeta) and a bad one is
// left out instead of breaking the tooltip. The tooltip stays where it opened and lingers a
// moment when the pointer leaves its cell, so the pointer can reach it: a palette swatch click
// starts a colour search.

/** @typedef {import("./types").TipMeta} TipMeta @typedef {import("./types").Info} Info */

export const LINGER_MS = 350;

/** @param {unknown} v @returns {number | null} a finite number (numeric strings too) or null */
function num(v) {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
}

/** @param {unknown} v @returns {string} */
function str(v) {
  return typeof v === "string" ? v : v == null ? "" : String(v);
}

/**
 * "1.2 MB" from a byte count; "" when it is not a finite, non-negative number.
 * @param {unknown} value @returns {string}
 */
export function fmtBytes(value) {
  let n = num(value);
  if (n === null || n < 0) return "";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/**
 * "#rrggbb" from an [r, g, b] triple of 0..255 numbers (rounded, clamped); null otherwise.
 * @param {unknown} rgb @returns {string | null}
 */
export function hexOf(rgb) {
  if (!Array.isArray(rgb) || rgb.length < 3) return null;
  const v = rgb.slice(0, 3).map(num);
  if (v.some((x) => x === null)) return null;
  return "#" + v.map((x) => Math.round(Math.min(255, Math.max(0, /** @type {number} */ (x))))
    .toString(16).padStart(2, "0")).join("");
}

/**
 * A record's date as shown: "2023-06-01 14:02" from an ISO-like "2023-06-01T14:02:33", other
 * text as it is (trimmed), "" for nothing.
 * @param {unknown} v @returns {string}
 */
export function fmtTaken(v) {
  const text = typeof v === "string" ? v.trim() : "";
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}))?/.exec(text);
  return m ? (m[2] ? `${m[1]} ${m[2]}` : m[1]) : text;
}

/**
 * The kernel's info `meta` made safe to show: every field of the right type or a neutral
 * default. Keywords may be [label, score] pairs, {label, score} objects or plain strings; a score
 * that is not a finite number (NaN, "high") is dropped, the label kept.
 * @param {any} raw @returns {TipMeta}
 */
export function cleanMeta(raw) {
  const m = raw && typeof raw === "object" ? raw : {};
  /** @type {Array<[string, number | null]>} */
  const keywords = [];
  for (const kw of Array.isArray(m.keywords) ? m.keywords : []) {
    /** @type {unknown} */
    let label = kw, score = null;
    if (Array.isArray(kw)) [label, score] = kw;
    else if (kw && typeof kw === "object") ({ label, score } = kw);
    const text = str(label).trim();
    if (text) keywords.push([text, num(score)]);
  }
  /** @type {Array<[number, number, number]>} */
  const palette = [];
  for (const c of Array.isArray(m.palette) ? m.palette : []) {
    const hex = hexOf(c);
    const [r, g, b] = [1, 3, 5].map((i) => parseInt((hex ?? "").slice(i, i + 2), 16));
    if (hex) palette.push([r, g, b]);
  }
  const pos = (/** @type {unknown} */ v) => { const n = num(v); return n !== null && n > 0 ? n : null; };
  const path = str(m.path);
  return {
    row: num(m.row) ?? -1,
    name: str(m.name) || path.split(/[\\/]/).pop() || "(no name)",
    path,
    folder: typeof m.folder === "string" ? m.folder : "",
    taken: fmtTaken(m.taken),
    camera: typeof m.camera === "string" ? m.camera.trim() : "",
    keywords,
    palette,
    width: pos(m.width),
    height: pos(m.height),
    size: (() => { const n = num(m.size); return n !== null && n >= 0 ? n : null; })(),
    missing: Boolean(m.missing),
    unreadable: Boolean(m.unreadable),
  };
}

/**
 * Where the tooltip goes: below-right of the pointer, flipped/clamped to stay inside the stage.
 * @param {number} x @param {number} y @param {number} w @param {number} h
 * @param {{w: number, h: number}} bounds @returns {{left: number, top: number}}
 */
export function placeTooltip(x, y, w, h, bounds) {
  const left = Math.max(0, Math.min(x + 16, bounds.w - w - 4));
  const top = y + 16 + h > bounds.h ? Math.max(0, y - h - 8) : y + 16;
  return { left, top };
}

/**
 * @param {(hex: string) => void} onColour called with "#rrggbb" when a palette swatch is clicked
 */
export function buildTooltip(onColour) {
  const el = document.createElement("div");
  el.className = "vv-tooltip";
  el.style.display = "none";
  let shown = -1;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let lingerTimer;
  /** @param {string} tag @param {string} className @param {string} [text] */
  const make = (tag, className, text) => {
    const e = document.createElement(tag);
    e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  /**
   * Show `info` near (x, y) in a stage of size `bounds`. Showing the row already shown keeps the
   * tooltip where it is (it does not chase the pointer, so the pointer can reach it).
   * @param {Info} info @param {number} x @param {number} y @param {{w: number, h: number}} bounds
   */
  function show(info, x, y, bounds) {
    clearTimeout(lingerTimer);
    const m = cleanMeta(info.meta);
    if (shown === m.row && shown >= 0 && el.style.display !== "none") return;
    el.replaceChildren();
    if (info.url) {
      const img = document.createElement("img");
      img.src = info.url;
      el.append(img);
    } else {
      el.append(make("div", "vv-tip-missing", m.missing ? "file not found" : "cannot read this image"));
    }
    const name = make("div", "vv-tip-name", m.name);
    name.title = m.path;
    el.append(name);
    if (m.folder) {
      const folder = make("div", "vv-tip-folder", `in ${m.folder}`);
      folder.title = m.path;
      el.append(folder);
    }
    const when = [m.taken, m.camera].filter(Boolean).join(" · ");
    if (when) el.append(make("div", "vv-tip-taken", when));
    if (m.keywords.length) {
      const text = m.keywords.map(([l, s]) => (s === null ? l : `${l} ${s.toFixed(2)}`)).join(" · ");
      el.append(make("div", "vv-tip-keywords", text));
    }
    if (m.palette.length) {
      const pal = make("div", "vv-tip-palette");
      for (const rgb of m.palette) {
        const hex = /** @type {string} */ (hexOf(rgb));
        const sw = make("span", "vv-tip-swatch");
        sw.setAttribute("role", "button");
        sw.dataset.hex = hex;
        sw.style.background = hex;
        sw.style.pointerEvents = "auto"; // the tooltip itself lets the pointer through
        sw.style.cursor = "pointer";
        sw.title = `${hex}: click to find images with this colour`;
        sw.addEventListener("click", (e) => {
          e.stopPropagation();
          hide();
          onColour(hex);
        });
        pal.append(sw);
      }
      el.append(pal);
    }
    const dims = m.width && m.height ? `${m.width}×${m.height}` : "";
    const size = [dims, fmtBytes(m.size)].filter(Boolean).join(" · ");
    if (size) el.append(make("div", "vv-tip-size", size));
    el.style.display = "";
    const pos = placeTooltip(x, y, el.offsetWidth || 220, el.offsetHeight || 260, bounds);
    el.style.left = `${pos.left}px`;
    el.style.top = `${pos.top}px`;
    shown = m.row;
  }
  function hide() {
    clearTimeout(lingerTimer);
    el.style.display = "none";
    shown = -1;
  }
  /** Hide after a moment unless keep() is called first (the pointer reached the tooltip). */
  function hideSoon(ms = LINGER_MS) {
    if (shown < 0) return;
    clearTimeout(lingerTimer);
    lingerTimer = setTimeout(hide, ms);
  }
  function keep() {
    clearTimeout(lingerTimer);
  }
  /** @param {EventTarget | null} target @returns {boolean} whether an event happened on the tooltip */
  function contains(target) {
    return shown >= 0 && !!target && "nodeType" in target && el.contains(/** @type {Node} */ (target));
  }
  return { el, show, hide, hideSoon, keep, contains, get row() { return shown; } };
}

/**
 * Tooltip details per row, newest last, at most `max` kept. Each entry may own an object URL
 * for its image: it is revoked when the entry is replaced, evicted or cleared (new data,
 * teardown), so a long session does not pile up blobs.
 */
export class InfoCache {
  constructor(max = 200, urls = { create: (/** @type {Blob} */ b) => URL.createObjectURL(b),
    revoke: (/** @type {string} */ u) => URL.revokeObjectURL(u) }) {
    this.max = max;
    this.urls = urls;
    /** @type {Map<number, Info>} */
    this.map = new Map();
  }
  /** @param {number} row @param {any} meta @param {Blob | null} image @returns {Info} */
  put(row, meta, image) {
    this.drop(row);
    const info = { meta, url: image ? this.urls.create(image) : null };
    this.map.set(row, info);
    if (this.map.size > this.max) this.drop(/** @type {number} */ (this.map.keys().next().value));
    return info;
  }
  /** @param {number} row */
  get(row) { return this.map.get(row); }
  /** @param {number} row */
  has(row) { return this.map.has(row); }
  get size() { return this.map.size; }
  /** @param {number} row */
  drop(row) {
    const old = this.map.get(row);
    if (old?.url) this.urls.revoke(old.url);
    this.map.delete(row);
  }
  clear() {
    for (const row of [...this.map.keys()]) this.drop(row);
  }
}

/**
 * When the tooltip shows: after the pointer rests `delayMs` on a row, its details (cached, else
 * asked of the kernel once; shown when they arrive if the pointer is still there). Moving to
 * another row lets the open tooltip linger (hideSoon) so the pointer can reach its swatches.
 * @param {ReturnType<typeof buildTooltip>} tip
 * @param {{request: (row: number) => void,
 *   anchor: (row: number) => {x: number, y: number, bounds: {w: number, h: number}} | null,
 *   cache?: InfoCache, delayMs?: number}} opts anchor: where to show `row`'s tooltip now, or
 *   null when it must not show (pointer elsewhere, Shift+Hover, a drag)
 */
export function tooltipFlow(tip, { request, anchor, cache = new InfoCache(), delayMs = 250 }) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** @param {number} row */
  function showIfAnchored(row) {
    const at = anchor(row), info = cache.get(row);
    if (at && info) tip.show(info, at.x, at.y, at.bounds);
    return Boolean(info);
  }
  return {
    cache,
    /** The pointer is now over `row` (-1: no image). @param {number} row */
    point(row) {
      clearTimeout(timer);
      tip.hideSoon();
      if (row < 0) return;
      timer = setTimeout(() => { if (anchor(row) && !showIfAnchored(row)) request(row); }, delayMs);
    },
    /** The kernel's details for `row`. @param {number} row @param {any} meta @param {Blob | null} image */
    arrived(row, meta, image) {
      cache.put(row, meta, image);
      showIfAnchored(row);
    },
    /** The pointer is on the tooltip: keep it, forget rows crossed on the way. */
    stay() {
      clearTimeout(timer);
      tip.keep();
    },
    hide() {
      clearTimeout(timer);
      tip.hide();
    },
    /** New data: drop cached details (their object URLs are revoked). */
    clear() {
      cache.clear();
    },
    dispose() {
      clearTimeout(timer);
      tip.hide();
      cache.clear();
    },
  };
}
