// Canvas colours from JupyterLab's CSS variables (Lab and Notebook 7, light and dark themes).
// Hosts without them (marimo, VS Code, a saved map) get the same variables set on the widget's
// element, light or dark as the host says (marimo's body class, VS Code's body class, else the
// browser's colour scheme), so the CSS and the canvas follow the page there too.

/** @typedef {import("./types").Theme} Theme */

/** The body attributes and classes that say which theme a host shows (watch them). */
export const THEME_ATTRIBUTES = ["data-jp-theme-light", "data-jp-theme-name", "class"];

const LIGHT = {
  "--jp-layout-color1": "#ffffff", "--jp-layout-color2": "#eeeeee",
  "--jp-ui-font-color1": "#222222", "--jp-ui-font-color2": "#666666", "--jp-ui-font-color3": "#999999",
  "--jp-border-color1": "#bbbbbb", "--jp-border-color2": "#dddddd",
};
const DARK = {
  "--jp-layout-color1": "#1e1e1e", "--jp-layout-color2": "#2b2b2b",
  "--jp-ui-font-color1": "#dddddd", "--jp-ui-font-color2": "#aaaaaa", "--jp-ui-font-color3": "#888888",
  "--jp-border-color1": "#555555", "--jp-border-color2": "#444444",
};

/** @param {Element} el @param {string} name @param {string} fallback @returns {string} */
function cssVar(el, name, fallback) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

/**
 * Whether the page uses a light theme: JupyterLab's data-jp-theme-light on <body>, else marimo's
 * (`dark-theme` / `light-theme`) or VS Code's (`vscode-dark`, `vscode-high-contrast`) body class,
 * else the browser's prefers-color-scheme.
 */
export function isLight(doc = document) {
  const body = doc.body;
  const jp = body?.dataset?.jpThemeLight;
  if (jp !== undefined) return jp !== "false";
  const cls = body?.classList;
  if (cls?.contains("dark-theme") || cls?.contains("vscode-dark")) return false;
  if (cls?.contains("vscode-high-contrast") && !cls.contains("vscode-high-contrast-light")) return false;
  if (cls?.contains("light-theme") || cls?.contains("vscode-light") || cls?.contains("vscode-high-contrast-light")) return true;
  const view = doc.defaultView;
  return !(view?.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false);
}

/** @param {Element} el the widget's element (inherits the theme's variables) @returns {Theme} */
export function readTheme(el) {
  const light = isLight(el.ownerDocument ?? document);
  return {
    bg: cssVar(el, "--jp-layout-color2", light ? "#eeeeee" : "#222222"),
    fg: cssVar(el, "--jp-ui-font-color1", light ? "#222222" : "#dddddd"),
    accent: cssVar(el, "--jp-brand-color1", "#1976d2"),
    onAccent: "#ffffff",
    select: cssVar(el, "--jp-warn-color1", "#f57c00"),
    ring: light ? "#000000" : "#ffffff",
    dim: light ? "rgba(255,255,255,0.72)" : "rgba(0,0,0,0.72)",
    boxFill: "rgba(245,124,0,0.15)",
  };
}

/**
 * The theme of the page `el` is in: where the host defines no JupyterLab variables (or we set
 * them before), set them on `el`, light or dark as the host says; then read them.
 * @param {HTMLElement} el @returns {Theme}
 */
export function hostTheme(el) {
  if (el.dataset.vvHostTheme || !cssVar(el, "--jp-layout-color1", "")) {
    const vars = isLight(el.ownerDocument ?? document) ? LIGHT : DARK;
    for (const [name, value] of Object.entries(vars)) el.style.setProperty(name, value);
    el.dataset.vvHostTheme = "1";
  }
  return readTheme(el);
}
