// Which theme a host shows (js/theme.js): JupyterLab's attribute, marimo's and VS Code's body
// classes, else the browser's colour scheme; hosts without JupyterLab's variables get them set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JSDOM } from "jsdom";
import { hostTheme, isLight } from "../theme.js";

/** @param {string} body attributes of <body> @param {boolean} [dark] prefers-color-scheme: dark */
function page(body, dark = false) {
  const dom = new JSDOM(`<!doctype html><html><body ${body}><div id="w"></div></body></html>`);
  dom.window.matchMedia = (q) => ({ matches: dark && q.includes("dark") });
  globalThis.getComputedStyle = (el) => dom.window.getComputedStyle(el);
  return dom.window.document;
}

test("JupyterLab's attribute wins over everything else", () => {
  assert.equal(isLight(page("data-jp-theme-light='false' class='light-theme'")), false);
  assert.equal(isLight(page("data-jp-theme-light='true' class='dark-theme'", true)), true);
});

test("marimo's and VS Code's body classes say dark or light", () => {
  assert.equal(isLight(page("class='dark dark-theme'")), false);
  assert.equal(isLight(page("class='light light-theme'", true)), true);
  assert.equal(isLight(page("class='vscode-dark'")), false);
  assert.equal(isLight(page("class='vscode-high-contrast'")), false);
  assert.equal(isLight(page("class='vscode-high-contrast vscode-high-contrast-light'", true)), true);
  assert.equal(isLight(page("class='vscode-light'", true)), true);
});

test("with no host signal the browser's colour scheme decides", () => {
  assert.equal(isLight(page("")), true);
  assert.equal(isLight(page("", true)), false);
});

test("a host without JupyterLab's variables gets them on the widget, and they follow the theme", () => {
  const doc = page("class='dark-theme'");
  const el = /** @type {HTMLElement} */ (doc.getElementById("w"));
  const dark = hostTheme(el);
  assert.equal(el.style.getPropertyValue("--jp-layout-color1"), "#1e1e1e");
  assert.equal(dark.bg, "#2b2b2b");
  doc.body.className = "light-theme";
  assert.equal(hostTheme(el).bg, "#eeeeee");
  assert.equal(el.style.getPropertyValue("--jp-layout-color1"), "#ffffff");
});
