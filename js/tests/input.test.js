import assert from "node:assert/strict";
import { test } from "node:test";
import { installDom, key } from "./dom.js";
import { bindKeys, isTyping, keyAction, shiftHover, wheelFactor } from "../input.js";

test("keyAction maps map keys and ignores modified and other keys", () => {
  const want = { "+": "zoomIn", "=": "zoomIn", "-": "zoomOut", _: "zoomOut", 0: "fit",
    Enter: "fitHits", Escape: "clear", a: null, Shift: null, 1: "actual", 2: null };
  for (const [k, a] of Object.entries(want)) assert.equal(keyAction({ key: k }), a, k);
  for (const mod of ["ctrlKey", "metaKey", "altKey"]) assert.equal(keyAction({ key: "+", [mod]: true }), null);
});

test("isTyping: text inputs, textareas and contenteditable (and inside it); not buttons or ranges", () => {
  installDom();
  const mk = (html) => {
    const d = document.createElement("div");
    d.innerHTML = html;
    document.body.append(d);
    return d.firstElementChild;
  };
  assert.equal(isTyping(mk("<input>")), true);
  assert.equal(isTyping(mk("<input type='search'>")), true);
  assert.equal(isTyping(mk("<input type='number'>")), true);
  assert.equal(isTyping(mk("<textarea></textarea>")), true);
  assert.equal(isTyping(mk("<div contenteditable='true'><span>x</span></div>").firstElementChild), true);
  assert.equal(isTyping(mk("<div contenteditable=''></div>")), true);
  assert.equal(isTyping(mk("<input type='range'>")), false);
  assert.equal(isTyping(mk("<input type='color'>")), false);
  assert.equal(isTyping(mk("<input readonly>")), false);
  assert.equal(isTyping(mk("<button>b</button>")), false);
  assert.equal(isTyping(mk("<div contenteditable='false'></div>")), false);
  assert.equal(isTyping(document.body), false);
  assert.equal(isTyping(null), false);
});

test("shiftHover needs Shift and no text focus", () => {
  installDom();
  assert.equal(shiftHover({ shiftKey: true }, document), true);
  assert.equal(shiftHover({ shiftKey: false }, document), false);
  const t = document.createElement("textarea");
  document.body.append(t);
  t.focus();
  assert.equal(shiftHover({ shiftKey: true }, document), false);
});

test("wheelFactor: pixel, line and page deltas; one event zooms at most e×", () => {
  assert.ok(Math.abs(wheelFactor({ deltaY: -100 }) - Math.exp(0.15)) < 1e-12);
  assert.ok(Math.abs(wheelFactor({ deltaY: 3, deltaMode: 1 }) - Math.exp(-0.15)) < 1e-12);
  assert.equal(wheelFactor({ deltaY: -1e6 }), Math.E);
  assert.equal(wheelFactor({ deltaY: 1, deltaMode: 2 }), Math.exp(-1));
  assert.equal(wheelFactor({ deltaY: 0 }), 1);
});

test("bindKeys: a key on the stage fires once; Shift is tracked on the window, not while typing", () => {
  const { window: win } = installDom();
  const stage = document.createElement("div");
  stage.tabIndex = 0;
  document.body.append(stage);
  const actions = [], shifts = [];
  const unbind = bindKeys(stage, win, { onAction: (a) => actions.push(a), onShift: (d) => shifts.push(d) });
  stage.focus();
  key(stage, "keydown", "+");
  key(stage, "keydown", "Escape");
  key(stage, "keydown", "x");
  assert.deepEqual(actions, ["zoomIn", "clear"]);
  key(stage, "keydown", "Shift");
  key(stage, "keyup", "Shift");
  const input = document.createElement("input");
  document.body.append(input);
  input.focus();
  key(input, "keydown", "Shift"); // a capital typed elsewhere
  key(input, "keydown", "+");
  key(input, "keyup", "Shift"); // release always clears
  win.dispatchEvent(new win.Event("blur"));
  assert.deepEqual(shifts, [true, false, false, false]);
  assert.deepEqual(actions, ["zoomIn", "clear"]);
  unbind();
  stage.focus();
  key(stage, "keydown", "+");
  key(stage, "keydown", "Shift");
  assert.equal(actions.length, 2);
  assert.equal(shifts.length, 4);
});

test("a handled map key does not reach notebook shortcuts; others do", () => {
  const { window: win } = installDom();
  const stage = document.createElement("div");
  document.body.append(stage);
  const seen = [];
  document.addEventListener("keydown", (e) => seen.push(e.key));
  bindKeys(stage, win, { onAction: () => {}, onShift: () => {} });
  key(stage, "keydown", "0");
  key(stage, "keydown", "a");
  assert.deepEqual(seen, ["a"]);
});
