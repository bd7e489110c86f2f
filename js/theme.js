// Canvas colours from JupyterLab's CSS variables (Lab and Notebook 7, light and dark themes);
// the fallbacks keep the map legible on pages without them.

/** @typedef {import("./types").Theme} Theme */

/** @param {Element} el @param {string} name @param {string} fallback @returns {string} */
function cssVar(el, name, fallback) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

/** Whether the page uses a light theme (JupyterLab sets data-jp-theme-light on <body>). */
export function isLight(doc = document) {
  return doc.body?.dataset?.jpThemeLight !== "false";
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
