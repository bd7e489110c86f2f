// The saved map's model (js/standalone.js): embedded bytes, name and colour search, and the
// kernel's answers given from the page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { colourSearch, fromBase64, nameSearch, staticModel, unpack } from "../standalone.js";

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

test("fromBase64 and unpack give views of the embedded bytes", () => {
  const bytes = fromBase64(Buffer.from([1, 2, 3, 4, 5]).toString("base64"));
  const v = unpack({ a: [{ $bin: [1, 3] }], b: 7 }, bytes);
  assert.deepEqual([...new Uint8Array(v.a[0].buffer, v.a[0].byteOffset, v.a[0].byteLength)], [2, 3, 4]);
  assert.equal(v.b, 7);
});

test("nameSearch needs every word, stops at k and keeps row order", () => {
  const texts = ["cat_a.jpg pet", "dog.jpg pet", "cat_b.jpg", "cat_c.jpg pet"];
  assert.deepEqual(nameSearch(texts, "CAT pet", 10), [0, 3]);
  assert.deepEqual(nameSearch(texts, "cat", 2), [0, 2]);
  assert.deepEqual(nameSearch(texts, "  ", 10), []);
});

test("colourSearch ranks by distance to the average colour", () => {
  const colours = Uint8Array.from([250, 0, 0, 0, 0, 250, 200, 30, 30]);
  assert.deepEqual(colourSearch(colours, "#ff0000", 2), [0, 2]);
  assert.deepEqual(colourSearch(colours, "blue", 2), []);
});

function model() {
  const manifest = {
    state: { query: "", colour_query: "", highlighted: [], search_k: 24, _data_version: 3,
      _colours: { view: { $bin: [0, 6] }, dtype: "uint8", shape: [2, 3] } },
    atlases: [{ msg: { type: "atlas", version: 3, index: 0 }, bufs: [[6, 2]] }],
    infos: [{ msg: { type: "info", row: 0, version: 3, meta: { name: "a" } }, bufs: [] }, null],
    search: ["red.png", "blue.png sky"],
  };
  return staticModel(manifest, Uint8Array.from([250, 0, 0, 0, 0, 250, 9, 9]));
}

test("a search typed in the page highlights the matches, as the kernel would", async () => {
  const m = model();
  const seen = [];
  m.on("change:highlighted", () => seen.push(m.get("highlighted")));
  m.set("query", "sky");
  m.save_changes();
  await tick();
  assert.deepEqual(seen, [[1]]);
  m.set("query", "");
  m.save_changes();
  await tick();
  assert.deepEqual(m.get("highlighted"), []);
  m.set("colour_query", "#0000ff");
  m.save_changes();
  await tick();
  assert.deepEqual(m.get("highlighted"), [1, 0]);
});

test("hello and info are answered from the embedded replies", async () => {
  const m = model();
  const got = [];
  m.on("msg:custom", (msg, bufs) => got.push([msg.type, bufs.map((b) => b.byteLength)]));
  m.send({ type: "hello" });
  m.send({ type: "info", row: 0 });
  m.send({ type: "info", row: 1 }); // no details saved for this row: no answer
  await tick();
  assert.deepEqual(got, [["atlas", [2]], ["info", []]]);
});

test("set fires change events at once; off removes a listener", () => {
  const m = model();
  let n = 0;
  const fn = () => { n += 1; };
  m.on("change:k", fn);
  m.set("k", 5);
  m.set("k", 5);
  m.off("change:k", fn);
  m.set("k", 6);
  assert.equal(n, 1);
  assert.equal(m.get("k"), 6);
});
