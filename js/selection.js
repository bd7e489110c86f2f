// Selection gestures: which modifier keys make a drag select (and how), and the shape the drag
// draws (box or lasso, the toolbar's choice). Shift is not used here: Shift is Shift+Hover.
//
//   drag                    pan
//   Ctrl/⌘ + drag           add the enclosed images to the selection
//   Alt + drag              replace the selection with the enclosed images
//   Ctrl/⌘ + Alt + drag     remove the enclosed images from the selection
//   click / Ctrl/⌘ + click  select one / add or remove one

/** @typedef {"add" | "replace" | "subtract"} SelectHow */
/** @typedef {"box" | "lasso"} SelectShape */

export const SHAPES = /** @type {const} */ (["box", "lasso"]);

/** What each selecting drag does, for the hint line and the docs (one definition). */
export const GESTURES = [
  ["Ctrl/⌘ + drag", "add to the selection"],
  ["Alt + drag", "replace the selection"],
  ["Ctrl/⌘ + Alt + drag", "remove from the selection"],
];

/**
 * How a drag that starts with these modifiers changes the selection; null: it pans.
 * @param {{ctrlKey?: boolean, metaKey?: boolean, altKey?: boolean}} e
 * @returns {SelectHow | null}
 */
export function dragSelect(e) {
  const ctrl = !!(e.ctrlKey || e.metaKey);
  if (ctrl && e.altKey) return "subtract";
  if (ctrl) return "add";
  if (e.altKey) return "replace";
  return null;
}

/**
 * The selection shape from a stored value ("box" unless it is "lasso").
 * @param {unknown} v @returns {SelectShape}
 */
export function readShape(v) {
  return v === "lasso" ? "lasso" : "box";
}

/**
 * The toolbar's selection count: "" when nothing is selected.
 * @param {number} n @returns {string}
 */
export function countText(n) {
  return n > 0 ? `${n.toLocaleString("en-US")} selected` : "";
}
