// The selection part of the toolbar: box / lasso (the shape a selecting drag draws), the count
// of selected images, and what can be done with them: tag / untag (lib.tag through the `tag`
// request), copy their paths (the `paths` request, then the clipboard, or a text box to copy
// from where the clipboard is refused), clear.

import { countText, readShape } from "./selection.js";

/** @typedef {import("./types").Model} Model @typedef {import("./types").MapState} MapState */

/**
 * Tag names typed in the box: comma-separated, trimmed, empty ones dropped, unique.
 * @param {string} text @returns {string[]}
 */
export function tagNames(text) {
  return [...new Set(text.split(",").map((t) => t.trim()).filter(Boolean))];
}

/**
 * Put `text` on the clipboard; where the browser refuses, `fallback(text)` shows it to copy by
 * hand. Resolves to "copied" or "shown".
 * @param {string} text @param {{writeText?: (t: string) => Promise<void>} | undefined} clipboard
 * @param {(text: string) => void} fallback @returns {Promise<"copied" | "shown">}
 */
export async function copyText(text, clipboard, fallback) {
  try {
    if (!clipboard?.writeText) throw new Error("no clipboard");
    await clipboard.writeText(text);
    return "copied";
  } catch {
    fallback(text);
    return "shown";
  }
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {string} className @param {string} [text] @param {string} [title]
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, className, text = "", title = "") {
  const e = document.createElement(tag);
  e.className = className;
  if (text) e.textContent = text;
  if (title) e.title = title;
  return e;
}

/**
 * Build the selection controls.
 * @param {{model: Model, store: import("./store").Store<MapState>,
 *   select: (rows: number[]) => void}} deps select: the map's selection setter (overlay.marks)
 */
export function buildSelectBar({ model, store, select }) {
  const root = el("span", "vv-selectbar");
  const shapes = el("span", "vv-shapes");
  const boxBtn = el("button", "vv-shape", "▭ box", "Selecting drags draw a box (Ctrl/⌘ + drag adds, Alt + drag replaces, Ctrl/⌘ + Alt + drag removes)");
  const lassoBtn = el("button", "vv-shape", "◌ lasso", "Selecting drags draw a freeform lasso (Ctrl/⌘ + drag adds, Alt + drag replaces, Ctrl/⌘ + Alt + drag removes)");
  boxBtn.dataset.shape = "box";
  lassoBtn.dataset.shape = "lasso";
  for (const b of [boxBtn, lassoBtn]) b.addEventListener("click", () => store.set({ selectShape: readShape(b.dataset.shape) }));
  shapes.append(boxBtn, lassoBtn);
  const count = el("span", "vv-selcount");
  const actions = el("span", "vv-selactions");
  const input = el("input", "vv-tag-input", "", "Tag names, comma-separated; Enter tags the selection");
  input.placeholder = "tag…";
  const tagBtn = el("button", "vv-tag", "Tag", "Give the selected images these tags (lib.tag)");
  const untagBtn = el("button", "vv-untag", "Untag", "Take these tags off the selected images (lib.untag)");
  const copyBtn = el("button", "vv-copy", "Copy paths", "Copy the selected images' paths, one per line");
  const clearBtn = el("button", "vv-selclear", "✕", "Clear the selection");
  const note = el("span", "vv-selnote");
  const manual = el("textarea", "vv-copy-fallback");
  manual.readOnly = true;
  manual.style.display = "none";
  actions.append(input, tagBtn, untagBtn, copyBtn, clearBtn, note, manual);
  root.append(shapes, count, actions);

  /** @param {boolean} remove */
  function sendTag(remove) {
    const names = tagNames(input.value);
    if (!names.length) {
      note.textContent = "type a tag name first";
      return;
    }
    model.send({ type: "tag", names, remove });
    note.textContent = "";
  }
  tagBtn.addEventListener("click", () => sendTag(false));
  untagBtn.addEventListener("click", () => sendTag(true));
  input.addEventListener("keydown", (e) => {
    e.stopPropagation(); // typing here is not a notebook shortcut nor a map key
    if (e.key === "Enter") sendTag(e.altKey);
  });
  copyBtn.addEventListener("click", () => {
    note.textContent = "…";
    model.send({ type: "paths" });
  });
  clearBtn.addEventListener("click", () => select([]));
  manual.addEventListener("keydown", (e) => e.stopPropagation());
  manual.addEventListener("blur", () => { manual.style.display = "none"; });

  /** @param {string} text */
  function showManual(text) {
    manual.value = text;
    manual.style.display = "";
    manual.focus();
    manual.select();
  }

  /** @param {any} msg */
  const onCustom = (msg) => {
    if (!msg || msg.type !== "paths" || !Array.isArray(msg.paths)) return;
    const paths = msg.paths.filter((/** @type {unknown} */ p) => typeof p === "string");
    copyText(paths.join("\n"), globalThis.navigator?.clipboard, showManual).then((how) => {
      const n = `${paths.length} path${paths.length === 1 ? "" : "s"}`;
      note.textContent = how === "copied" ? `copied ${n}` : `${n}: press Ctrl/⌘+C`;
    });
  };
  model.on("msg:custom", onCustom);

  function sync() {
    const { selected, selectShape } = store.get();
    for (const b of [boxBtn, lassoBtn]) b.classList.toggle("vv-active", b.dataset.shape === selectShape);
    count.textContent = countText(selected.size);
    actions.style.display = selected.size ? "" : "none";
  }
  const unwatch = store.watch(["selected", "selectShape"], sync);
  sync();
  return {
    el: root, sync,
    dispose() {
      unwatch();
      model.off("msg:custom", onCustom);
    },
  };
}
