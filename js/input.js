// Keyboard and pointer input: which key does what on the map, when Shift means Shift+Hover,
// and one binding of the listeners (bindInput: pointer, wheel and keys of one map). Keys have two listeners with disjoint jobs: the stage's
// keydown handles map keys (+ − 0 1 Enter Esc; it used to be handled by the window listener too,
// so one + zoomed twice), the window's keydown/keyup only track Shift (it must work whichever
// element has focus, but not while the user is typing text somewhere).

import { extendPath } from "./lasso.js";
import { applySelection } from "./overlay.js";
import { dragSelect } from "./selection.js";
import { panBy } from "./view.js";

/** @typedef {import("./types").KeyAction} KeyAction */

export const ZOOM_STEP = 1.5;
/** Pointer travel (px) before a press becomes a drag. */
export const DRAG_PX = 4;

const NOT_TEXT = new Set(["button", "checkbox", "color", "file", "hidden", "image", "radio",
  "range", "reset", "submit"]);

/**
 * Whether `el` (normally document.activeElement) takes typed text: a text-like <input>, a
 * <textarea> or anything contenteditable (JupyterLab's and Notebook's CodeMirror editors).
 * Focus inside shadow roots is followed.
 * @param {Element | null | undefined} el @returns {boolean}
 */
export function isTyping(el) {
  let e = el;
  while (e?.shadowRoot?.activeElement) e = e.shadowRoot.activeElement;
  if (!e || e.nodeType !== 1) return false;
  const tag = e.tagName.toUpperCase();
  if (tag === "TEXTAREA") return !(/** @type {HTMLTextAreaElement} */ (e).readOnly);
  if (tag === "INPUT") {
    const input = /** @type {HTMLInputElement} */ (e);
    return !input.readOnly && !NOT_TEXT.has((input.type || "text").toLowerCase());
  }
  if (/** @type {HTMLElement} */ (e).isContentEditable) return true;
  const editable = e.closest("[contenteditable]");
  return !!editable && editable.getAttribute("contenteditable") !== "false";
}

/**
 * The map action of a key pressed while the map has focus; null for other keys and for
 * modified keys (Ctrl/Cmd + = is the browser's zoom, not ours).
 * @param {{key: string, ctrlKey?: boolean, metaKey?: boolean, altKey?: boolean}} e
 * @returns {KeyAction | null}
 */
export function keyAction(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  switch (e.key) {
    case "+": case "=": return "zoomIn";
    case "-": case "_": return "zoomOut";
    case "0": return "fit";
    case "1": return "actual";
    case "Enter": return "fitHits";
    case "Escape": return "clear";
    default: return null;
  }
}

/**
 * Zoom factor of one wheel event (pixel, line or page deltas), bounded per event.
 * @param {{deltaY: number, deltaMode?: number}} e @returns {number}
 */
export function wheelFactor(e) {
  const per = e.deltaMode === 1 ? 0.05 : e.deltaMode === 2 ? 1 : 0.0015;
  return Math.exp(Math.max(-1, Math.min(1, -e.deltaY * per)));
}

/**
 * Whether a pointer event with Shift held means Shift+Hover: not while text is being typed.
 * @param {{shiftKey: boolean}} e @param {Document} doc @returns {boolean}
 */
export function shiftHover(e, doc) {
  return e.shiftKey && !isTyping(doc.activeElement);
}

/**
 * Bind the keyboard: map keys on the stage, Shift on the window (ignored while typing), and
 * window blur releases Shift. Returns a function that removes every listener.
 * @param {HTMLElement} stage @param {Window} win
 * @param {{onAction: (a: KeyAction) => void, onShift: (down: boolean) => void}} on
 * @returns {() => void}
 */
export function bindKeys(stage, win, on) {
  /** @param {KeyboardEvent} e */
  const onStageKey = (e) => {
    const action = keyAction(e);
    if (!action) return;
    e.preventDefault();
    e.stopPropagation(); // ours, not a notebook shortcut ("0 0" restarts the kernel)
    on.onAction(action);
  };
  /** @param {KeyboardEvent} e */
  const onWindowKey = (e) => {
    if (e.key !== "Shift") return;
    const down = e.type === "keydown";
    if (down && isTyping(win.document.activeElement)) return;
    on.onShift(down);
  };
  const onBlur = () => on.onShift(false);
  stage.addEventListener("keydown", onStageKey);
  win.addEventListener("keydown", onWindowKey);
  win.addEventListener("keyup", onWindowKey);
  win.addEventListener("blur", onBlur);
  return () => {
    stage.removeEventListener("keydown", onStageKey);
    win.removeEventListener("keydown", onWindowKey);
    win.removeEventListener("keyup", onWindowKey);
    win.removeEventListener("blur", onBlur);
  };
}

/** @typedef {import("./types").MapState} MapState @typedef {import("./types").Point} Point */
/** @typedef {import("./types").View} View */

/**
 * Whether `stage` holds the keyboard focus (also inside a shadow root, as in marimo).
 * @param {HTMLElement} stage @param {Document} doc @returns {boolean}
 */
export function hasFocus(stage, doc) {
  const root = /** @type {Document | ShadowRoot} */ (stage.getRootNode?.() ?? doc);
  return (root.activeElement ?? doc.activeElement) === stage;
}

/**
 * Bind the mouse and keyboard of one map: pointer moves (tooltip, Shift+Hover), press and drag
 * (click selects, Ctrl/Cmd-click toggles, a selecting drag (selection.js: dragSelect) draws a
 * box or a lasso (the store's `selectShape`), a plain drag pans; a click that gives the map the
 * keyboard focus only focuses it, so clicking into the map to use its keys never changes the
 * selection), the wheel (zoom about the pointer), map keys and Shift. Owns the store's
 * `pointer`, `pointed`, `box`, `lasso` and `dragging`. Returns a function that removes every
 * listener.
 * @param {HTMLElement} stage @param {Window} win
 * @param {{store: import("./store").Store<MapState>,
 *   view: ReturnType<typeof import("./view").viewControl>,
 *   marks: ReturnType<typeof import("./overlay").marks>,
 *   rowUnder: (p: Point) => number,
 *   rowsInBox: (a: Point, b: Point) => number[],
 *   rowsInLasso: (path: Point[]) => number[],
 *   tips: {point: (row: number) => void, stay: () => void, hide: () => void},
 *   onTooltip: (target: EventTarget | null) => boolean,
 *   hideTooltip: () => void}} deps onTooltip: whether an event target lies on the tooltip
 * @returns {() => void}
 */
export function bindInput(stage, win, { store, view, marks, rowUnder, rowsInBox, rowsInLasso, tips, onTooltip, hideTooltip }) {
  /** @type {{x0: number, y0: number, view: View, moved: boolean, box: boolean, add: boolean,
   *   how: import("./selection").SelectHow | null, path: Point[] | null, focusing: boolean} | null} */
  let drag = null;

  /** @param {MouseEvent} e @returns {Point} */
  function local(e) {
    const r = stage.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  /** @param {PointerEvent} e */
  function onPointerMove(e) {
    if (!drag && onTooltip(e.target)) { // on the tooltip: keep it (its swatches are clickable)
      tips.stay();
      return;
    }
    const p = local(e);
    store.set({ pointer: p });
    if (drag) {
      const dx = p.x - drag.x0, dy = p.y - drag.y0;
      if (!drag.moved && Math.hypot(dx, dy) >= DRAG_PX) drag.moved = true;
      if (!drag.moved) return;
      if (drag.path) store.set({ lasso: (drag.path = extendPath(drag.path, p)) });
      else if (drag.box) store.set({ box: { x0: drag.x0, y0: drag.y0, x1: p.x, y1: p.y } });
      else view.setView(panBy(drag.view, dx, dy));
      return;
    }
    const row = rowUnder(p);
    if (shiftHover(e, win.document)) {
      const { hover } = store.get();
      if (!hover || hover.row !== row) marks.setHover(row, true, e);
      return;
    }
    if (store.get().hover) marks.setHover(-1);
    if (row !== store.get().pointed) {
      store.set({ pointed: row });
      tips.point(row); // the open tooltip lingers a moment so the pointer can reach it
    }
  }

  /** @param {PointerEvent} e */
  function onPointerDown(e) {
    if (e.button !== 0 || onTooltip(e.target)) return;
    const focusing = !hasFocus(stage, win.document);
    stage.focus({ preventScroll: true });
    const p = local(e);
    const how = dragSelect(e);
    const path = how && store.get().selectShape === "lasso" ? [p] : null;
    drag = { x0: p.x, y0: p.y, view: store.get().view, moved: false, box: !!how, add: e.ctrlKey || e.metaKey, how, path, focusing };
    store.set({ dragging: true });
    stage.setPointerCapture?.(e.pointerId);
    hideTooltip();
  }

  /** @param {PointerEvent} e */
  function onPointerUp(e) {
    if (!drag) return;
    const p = local(e);
    const d = drag;
    drag = null;
    store.set({ dragging: false });
    stage.releasePointerCapture?.(e.pointerId);
    const selected = [...store.get().selected];
    if (d.moved && d.box && d.how) {
      const hits = d.path ? rowsInLasso(extendPath(d.path, p)) : rowsInBox({ x: d.x0, y: d.y0 }, p);
      store.set({ box: null, lasso: null });
      marks.select(applySelection(selected, hits, d.how));
    } else if (!d.moved && !d.focusing) {
      const row = rowUnder(p);
      if (d.add) {
        if (row >= 0) marks.select(applySelection(selected, [row], "toggle"));
      } else {
        marks.select(row >= 0 ? [row] : []);
      }
    }
  }

  /** @param {WheelEvent} e */
  function onWheel(e) {
    e.preventDefault();
    const p = local(e);
    view.zoomBy(wheelFactor(e), p.x, p.y);
  }

  function onLeave() {
    store.set({ pointer: null, pointed: -1 });
    tips.hide();
    if (store.get().hover && !drag) marks.setHover(-1);
  }

  /** @param {KeyAction} action */
  function onAction(action) {
    if (action === "clear") marks.clearHighlights();
    else if (action === "zoomIn") view.zoomCentre(ZOOM_STEP);
    else if (action === "zoomOut") view.zoomCentre(1 / ZOOM_STEP);
    else if (action === "fit") view.fit();
    else if (action === "actual") view.actualSize();
    else if (action === "fitHits") view.fitHits();
  }

  /** @param {boolean} down */
  function onShift(down) {
    const { pointer } = store.get();
    if (down && pointer) marks.setHover(rowUnder(pointer));
    if (!down) marks.setHover(-1);
  }

  const listeners = /** @type {Array<[string, (e: any) => void, AddEventListenerOptions?]>} */ ([
    ["pointermove", onPointerMove], ["pointerdown", onPointerDown], ["pointerup", onPointerUp],
    ["pointerleave", onLeave], ["wheel", onWheel, { passive: false }],
  ]);
  for (const [type, fn, opts] of listeners) stage.addEventListener(type, fn, opts);
  const unbindKeys = bindKeys(stage, win, { onAction, onShift });
  return () => {
    for (const [type, fn] of listeners) stage.removeEventListener(type, fn);
    unbindKeys();
  };
}
