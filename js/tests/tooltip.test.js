import assert from "node:assert/strict";
import { test } from "node:test";
import { installDom } from "./dom.js";
import { buildTooltip, cleanMeta, fmtBytes, hexOf, InfoCache, placeTooltip } from "../tooltip.js";

test("fmtBytes: numbers and numeric strings; odd values give nothing", () => {
  assert.equal(fmtBytes(0), "0 B");
  assert.equal(fmtBytes(1023), "1023 B");
  assert.equal(fmtBytes(2048), "2.0 KB");
  assert.equal(fmtBytes("3145728"), "3.0 MB");
  assert.equal(fmtBytes(5 * 1024 ** 4), "5.0 TB");
  for (const bad of [null, undefined, NaN, Infinity, -5, "abc", "", {}, [], true]) assert.equal(fmtBytes(bad), "", String(bad));
});

test("hexOf rounds and clamps; refuses non-colours", () => {
  assert.equal(hexOf([255, 0, 16]), "#ff0010");
  assert.equal(hexOf([300, -4, 1.6]), "#ff0002");
  assert.equal(hexOf(["10", 20, 30, 99]), "#0a141e");
  for (const bad of [null, "red", [1, 2], [1, "x", 3], [NaN, 0, 0], {}]) assert.equal(hexOf(bad), null);
});

test("cleanMeta survives odd record fields", () => {
  const m = cleanMeta({
    row: 4, name: "", path: "/x/y/cat.jpg",
    keywords: [["sea", NaN], { label: "sky", score: "0.25" }, "plain", [null, 1], { score: 2 }, 7, ["big", Infinity]],
    palette: [[1, 2, 3], "red", [1, 2], null, [9, 9, "9"]],
    width: "640", height: -3, size: "12345", missing: 0,
  });
  assert.deepEqual(m.keywords, [["sea", null], ["sky", 0.25], ["plain", null], ["7", null], ["big", null]]);
  assert.deepEqual(m.palette, [[1, 2, 3], [9, 9, 9]]);
  assert.equal(m.name, "cat.jpg");
  assert.equal(m.width, 640);
  assert.equal(m.height, null);
  assert.equal(m.size, 12345);
  assert.equal(m.missing, false);
  for (const raw of [null, undefined, 3, "x", [], { keywords: "a", palette: 5, size: {} }]) {
    const c = cleanMeta(raw);
    assert.deepEqual([c.keywords, c.palette, c.size], [[], [], null]);
  }
});

test("placeTooltip stays inside the stage", () => {
  assert.deepEqual(placeTooltip(10, 10, 100, 50, { w: 600, h: 400 }), { left: 26, top: 26 });
  assert.deepEqual(placeTooltip(590, 390, 100, 50, { w: 600, h: 400 }), { left: 496, top: 332 });
  assert.deepEqual(placeTooltip(5, 20, 100, 300, { w: 600, h: 250 }), { left: 21, top: 0 });
});

test("show() renders odd meta without throwing; swatches call back with their colour", () => {
  installDom();
  const picked = [];
  const tip = buildTooltip((hex) => picked.push(hex));
  document.body.append(tip.el);
  const odd = [
    { row: 1, keywords: [["a", NaN]], size: "big", palette: [[1, 2, 3]] },
    { row: 2, keywords: null, palette: null, width: "x" },
    { row: 3, name: 42, path: null, size: "2048", width: 10, height: "20" },
    {},
  ];
  for (const meta of odd) {
    tip.show({ meta, url: null }, 5, 5, { w: 300, h: 300 });
    assert.equal(tip.el.style.display, "");
  }
  assert.match(tip.el.textContent, /\(no name\)/);
  tip.show({ meta: { row: 1, keywords: [["a", NaN]], palette: [[1, 2, 3]] }, url: "blob:x" }, 5, 5, { w: 300, h: 300 });
  assert.equal(tip.el.querySelector("img").getAttribute("src"), "blob:x");
  assert.equal(tip.el.querySelector(".vv-tip-keywords").textContent, "a");
  const sw = tip.el.querySelector(".vv-tip-swatch");
  assert.equal(sw.style.pointerEvents, "auto"); // clickable although the tooltip is pointer-events: none
  assert.equal(tip.contains(sw), true);
  sw.click();
  assert.deepEqual(picked, ["#010203"]);
  assert.equal(tip.el.style.display, "none");
  assert.equal(tip.contains(sw), false);
});

test("the tooltip does not chase the pointer within its row and lingers before hiding", async () => {
  installDom();
  const tip = buildTooltip(() => {});
  const info = { meta: { row: 5 }, url: null };
  tip.show(info, 10, 10, { w: 600, h: 400 });
  const at = [tip.el.style.left, tip.el.style.top];
  tip.show(info, 200, 150, { w: 600, h: 400 });
  assert.deepEqual([tip.el.style.left, tip.el.style.top], at);
  tip.hideSoon(20);
  tip.keep();
  await new Promise((ok) => setTimeout(ok, 40));
  assert.equal(tip.row, 5);
  tip.hideSoon(20);
  await new Promise((ok) => setTimeout(ok, 40));
  assert.equal(tip.row, -1);
});

test("InfoCache revokes URLs on replace, eviction and clear", () => {
  const made = [], revoked = [];
  const cache = new InfoCache(2, { create: () => { made.push(`u${made.length}`); return made.at(-1); }, revoke: (u) => revoked.push(u) });
  const blob = new Blob([new Uint8Array([1])]);
  cache.put(1, {}, blob);
  cache.put(1, {}, blob);
  assert.deepEqual(revoked, ["u0"]);
  cache.put(2, {}, null);
  cache.put(3, {}, blob); // evicts row 1 (oldest)
  assert.deepEqual(revoked, ["u0", "u1"]);
  assert.equal(cache.has(1), false);
  assert.equal(cache.size, 2);
  cache.clear();
  assert.deepEqual(revoked, ["u0", "u1", "u2"]);
  assert.equal(cache.size, 0);
});

test("tooltipFlow: ask once after the delay, show on arrival only if still anchored, linger", async () => {
  installDom();
  const { tooltipFlow } = await import("../tooltip.js");
  const tip = buildTooltip(() => {});
  const asked = [];
  let at = { x: 5, y: 5, bounds: { w: 300, h: 300 } };
  const flow = tooltipFlow(tip, { request: (r) => asked.push(r), anchor: () => at, delayMs: 10,
    cache: new InfoCache(10, { create: () => "u", revoke: () => {} }) });
  flow.point(3);
  flow.point(4); // moved on before the delay: only row 4 is asked for
  await new Promise((ok) => setTimeout(ok, 30));
  assert.deepEqual(asked, [4]);
  flow.arrived(4, { row: 4, name: "four" }, null);
  assert.equal(tip.row, 4);
  flow.point(5); // the open tooltip lingers (LINGER_MS) and can be kept by reaching it
  flow.stay();
  await new Promise((ok) => setTimeout(ok, 30));
  assert.equal(tip.row, 4);
  assert.deepEqual(asked, [4]); // row 5 crossed on the way: not asked
  at = null; // e.g. Shift+Hover started: details arriving now are cached, not shown
  flow.hide();
  flow.arrived(6, { row: 6 }, null);
  assert.equal(tip.row, -1);
  assert.equal(flow.cache.has(6), true);
  at = { x: 5, y: 5, bounds: { w: 300, h: 300 } };
  flow.point(6);
  await new Promise((ok) => setTimeout(ok, 30));
  assert.equal(tip.row, 6); // cached: shown without asking again
  assert.deepEqual(asked, [4]);
  flow.dispose();
  assert.equal(flow.cache.size, 0);
  assert.equal(tip.row, -1);
});
