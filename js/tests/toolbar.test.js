import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeModel, installDom, key, widgetState } from "./dom.js";
import { buildToolbar, fmtDuration, hitText, modeSpecs, progressText, rateText } from "../toolbar.js";

test("modeSpecs: the kernel's [name, label, tooltip] triples; malformed entries are skipped", () => {
  assert.deepEqual(modeSpecs([["semantic", "Sense", "by meaning"]]), [["semantic", "Sense", "by meaning"]]);
  assert.deepEqual(modeSpecs([["new", "", "t"]]), [["new", "new", "t"]]);
  for (const bad of [undefined, null, [], "visual", [3, null, {}], 7, ["visual"], [["visual", 1, "t"]]]) {
    assert.deepEqual(modeSpecs(bad), []);
  }
  assert.equal(modeSpecs([["visual", "Look", "a"], ["visual", "Look", "b"]]).length, 1);
});

test("hitText", () => {
  assert.equal(hitText("", "", 0), "");
  assert.equal(hitText("cat", "", 12), "12 hits for “cat”");
  assert.equal(hitText("cat", "", 1), "1 hit for “cat”");
  assert.equal(hitText("", "#c02020", 0), "no match for #c02020");
  assert.equal(hitText("", "", 3), "3 highlighted"); // w.highlight(rows): no search to name
  assert.ok(hitText("a".repeat(80), "", 2).length < 45);
});

test("progressText tolerates odd progress values", () => {
  assert.deepEqual(progressText({}), { parts: [], frac: null, label: "" });
  assert.deepEqual(progressText({ scan: [3, 4], som: [1, 10] }, "2.0 images/s · 1 s left"),
    { parts: ["scanning 3/4 images", "2.0 images/s · 1 s left", "arranging the map (pass 1 of 10)"], frac: 0.75, label: "scan" });
  assert.deepEqual(progressText({ scan: [0, 0] }), { parts: ["looking for new and changed images…"], frac: 0, label: "scan" });
  assert.deepEqual(progressText({ som: "x", thumbs: [2, 4], table: "computing" }).parts, ["loading thumbnails 2/4", "preparing Shift+Hover…"]);
});

test("the map's first progress says what happens, not \"training map 0/1\"", () => {
  const { parts, label } = progressText({ som: [0, 1] });
  assert.deepEqual(parts, ["arranging similar images side by side…"]);
  assert.equal(label, "map");
  assert.ok(!parts.join(" ").includes("0/1"));
});

test("rateText and fmtDuration: images/s and time left once there is something to measure", () => {
  assert.equal(rateText(0, 100, 0, 5), ""); // nothing done yet
  assert.equal(rateText(10, 100, 0, 0.1), ""); // too soon to say
  assert.equal(rateText(50, 1050, 0, 10), "5.0 images/s · 3 min 20 s left");
  assert.equal(rateText(300, 10300, 100, 10), "20 images/s · 8 min 20 s left");
  assert.equal(fmtDuration(42), "42 s");
  assert.equal(fmtDuration(3600 * 2 + 60 * 5), "2 h 5 min");
  assert.equal(fmtDuration(120), "2 min");
});

function setup(state = {}) {
  installDom();
  const model = fakeModel({ ...widgetState(), ...state });
  const calls = [];
  const actions = {
    zoom: (f) => calls.push(["zoom", f]), fit: () => calls.push(["fit"]), fitHits: () => calls.push(["fitHits"]),
    clearHighlights: () => calls.push(["clear"]), searched: () => calls.push(["searched"]),
    rescan: (force) => model.send({ type: "rescan", force }),
  };
  const tb = buildToolbar(model, actions);
  document.body.append(tb.el);
  tb.sync();
  return { model, tb, calls, q: (s) => tb.el.querySelector(s) };
}

test("mode buttons come from the kernel's list; clicking sets the mode", () => {
  const { model, tb, q } = setup({ _modes: [["visual", "Look", "a"], ["fused", "Both", "b"]], mode: "fused" });
  assert.deepEqual([...tb.el.querySelectorAll(".vv-mode")].map((b) => b.textContent), ["Look", "Both"]);
  assert.ok(q("[data-mode='fused']").classList.contains("vv-active"));
  q("[data-mode='visual']").click();
  assert.equal(model.state.mode, "visual");
  model.state._modes = [["visual", "Look", "a"], ["semantic", "Meaning", "b"], ["hybrid", "Hybrid", "c"]];
  tb.sync();
  assert.equal(tb.el.querySelectorAll(".vv-mode").length, 3);
  assert.equal(q(".vv-weight-label").style.display, "none");
  model.state.mode = "hybrid";
  tb.sync();
  const label = q(".vv-weight-label");
  assert.equal(label.style.display, "");
  assert.ok(label.contains(q(".vv-weight")), "the slider sits inside its visible label");
  assert.match(label.textContent, /meaning.*look/);
});

test("search: Enter sends the query, Enter again fits the hits, Esc clears; keys stay in the box", () => {
  const { model, tb, calls, q } = setup();
  const seen = [];
  document.addEventListener("keydown", (e) => seen.push(e.key));
  const search = q(".vv-search");
  search.value = "  red car ";
  key(search, "keydown", "Enter");
  assert.equal(model.state.query, "red car");
  assert.deepEqual(calls, [["searched"]]);
  model.state.highlighted = [4, 5];
  tb.sync();
  assert.equal(q(".vv-hits").textContent, "2 hits for “red car”");
  assert.equal(q(".vv-clear").style.display, "");
  key(search, "keydown", "Enter");
  assert.deepEqual(calls.at(-1), ["fitHits"]);
  key(search, "keydown", "Escape");
  assert.equal(search.value, "");
  assert.deepEqual(calls.at(-1), ["clear"]);
  assert.deepEqual(seen, []);
});

test("colour search from the picker or colourSearch(); status trait and progress shown", () => {
  const { model, tb, calls, q } = setup();
  const picker = q(".vv-colour");
  picker.value = "#123456";
  picker.dispatchEvent(new window.Event("change"));
  assert.equal(model.state.colour_query, "#123456");
  tb.colourSearch("#abcdef");
  assert.equal(model.state.colour_query, "#abcdef");
  assert.equal(picker.value, "#abcdef");
  assert.equal(calls.filter(([c]) => c === "searched").length, 2);
  model.state.status = "saved 30 images to lib.json";
  tb.sync();
  assert.match(q(".vv-status").textContent, /saved 30 images/);
  model.state.progress = { som: [2, 8] };
  tb.sync();
  assert.match(q(".vv-status").textContent, /arranging the map \(pass 2 of 8\)/);
  assert.equal(q(".vv-progress").value, 0.25);
  assert.equal(q(".vv-progress-label").style.display, "");
  assert.equal(q(".vv-progress-name").textContent, "map"); // the bar's visible label
  assert.ok(q(".vv-progress-label").contains(q(".vv-progress")));
});

test("k is bounded; rescan is disabled without encoders", () => {
  const { model, tb, q } = setup({ _can_rescan: false });
  const k = q(".vv-k");
  for (const [v, want] of [["500", 100], ["0", 10], ["-3", 1], ["abc", 10], ["7.6", 8]]) {
    k.value = v;
    k.dispatchEvent(new window.Event("change"));
    assert.equal(model.state.k, want, v);
  }
  assert.equal(q(".vv-rescan").disabled, true);
  model.state._can_rescan = true;
  tb.sync();
  assert.equal(q(".vv-rescan").disabled, false);
});
