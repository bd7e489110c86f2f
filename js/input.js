// Keyboard and pointer input: which key does what on the map, when Shift means Shift+Hover,
// and one binding of the listeners. Keys have two listeners with disjoint jobs: the stage's
// keydown handles map keys (+ − 0 Enter Esc; it used to be handled by the window listener too,
// so one + zoomed twice), the window's keydown/keyup only track Shift (it must work whichever
// element has focus, but not while the user is typing text somewhere).

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
