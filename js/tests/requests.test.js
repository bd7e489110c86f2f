import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeModel, installDom, tick } from "./dom.js";
import { GridRenderer } from "../grid.js";
import { forgetRows, kernelRequests, readReply, readSizes, sharpSize } from "../requests.js";
import { Store } from "../store.js";

test("readReply accepts the protocol's replies and refuses anything else", () => {
  const atlas = { type: "atlas", version: 1, index: 0, first: 0, count: 3, tile: 24, cols: 32 };
  assert.equal(readReply(atlas, 1), atlas);
  assert.equal(readReply(atlas, 0), null, "an atlas without its JPEG");
  assert.equal(readReply({ ...atlas, tile: "24" }, 1), null);
  const thumbs = { type: "thumbs", version: 1, req: 1, size: 64, rows: [1, 2], failed: [] };
  assert.equal(readReply(thumbs, 2), thumbs);
  assert.equal(readReply(thumbs, 1), null, "fewer buffers than rows");
  assert.equal(readReply({ ...thumbs, failed: undefined }, 2), null);
  assert.equal(readReply({ ...thumbs, rows: ["1"] }, 2), null);
  const info = { type: "info", version: 1, row: 3, meta: {} };
  assert.equal(readReply(info, 0), info);
  assert.equal(readReply({ ...info, meta: null }, 0), null);
  for (const bad of [null, 7, "atlas", { type: "atlas" }, { type: "drop", version: 1 }, { ...info, version: "1" }]) {
    assert.equal(readReply(bad, 1), null, JSON.stringify(bad));
  }
});

test("sharpSize: the smallest size not upscaled, else the largest; readSizes sorts and filters", () => {
  const sizes = [16, 32, 64, 128, 256];
  assert.deepEqual([10, 16, 17, 33, 200, 256, 900].map((px) => sharpSize(px, sizes)), [16, 16, 32, 64, 256, 256, 256]);
  assert.equal(sharpSize(50, []), 0);
  assert.deepEqual(readSizes([64, 16, "32", -1, 2.5, 256]), [16, 64, 256]);
  assert.deepEqual(readSizes(undefined), []);
});

function setup(view = { scale: 100, tx: 0, ty: 0 }) {
  installDom();
  const model = fakeModel({});
  const grid = new GridRenderer();
  const n = 36;
  const cells = Int32Array.from({ length: 2 * n }, (_, i) => (i % 2 ? (i >> 1) % 6 : Math.floor((i >> 1) / 6)));
  grid.setCells(cells, n, 6, 6, new Uint8Array(3 * n));
  const store = new Store({ view, dpr: 1, version: 1, sharpSizes: [16, 32, 64, 128, 256] });
  const arrived = [];
  let redraws = 0;
  let cleared = 0;
  const kernel = kernelRequests({ model, store, grid, size: () => ({ w: 300, h: 200 }), stats: null,
    tips: { arrived: (...a) => arrived.push(a), clear: () => { cleared += 1; } }, redraw: () => { redraws += 1; } });
  return { model, store, grid, kernel, arrived, redraws: () => redraws, cleared: () => cleared };
}

test("a settled zoomed-in view asks once for the visible rows at the size its cells need", async () => {
  const { model, kernel } = setup();
  kernel.scheduleSharp();
  kernel.scheduleSharp(); // a second frame restarts the wait: one request
  await tick(150);
  const sent = model.sent.filter((m) => m.type === "thumbs");
  assert.equal(sent.length, 1);
  assert.equal(sent[0].size, 128);
  assert.deepEqual(sent[0].rows.sort((a, b) => a - b), [0, 1, 2, 6, 7, 8]); // 3 × 2 cells of 100 px
  kernel.scheduleSharp();
  await tick(150);
  assert.equal(model.sent.filter((m) => m.type === "thumbs").length, 1, "pending rows asked again");
  model.message({ type: "thumbs", version: 1, req: 1, size: 128, rows: [], failed: [0, 1], busy: true }, []);
  kernel.scheduleSharp();
  await tick(150);
  assert.deepEqual(model.sent.at(-1).rows.sort(), [0, 1], "rows the busy kernel refused are asked again");
  kernel.dispose();
});

test("a zoomed-out view asks for nothing; replies of another version or after teardown are dropped", async () => {
  const { model, kernel, arrived } = setup({ scale: 10, tx: 0, ty: 0 });
  kernel.scheduleSharp();
  await tick(150);
  assert.equal(model.sent.length, 0);
  model.message({ type: "info", version: 2, row: 1, meta: {} }, []);
  model.message({ type: "info", version: 1, row: 1, meta: {} }, []);
  assert.deepEqual(arrived.map((a) => a[0]), [1]);
  kernel.dispose();
  model.message({ type: "info", version: 1, row: 2, meta: {} }, []);
  assert.equal(arrived.length, 1);
  assert.equal(model.listenerCount(), 0);
});

test("requests follow the protocol's shapes", () => {
  const { model, kernel } = setup();
  kernel.hello();
  kernel.info(4);
  kernel.rescan(true);
  assert.deepEqual(model.sent, [{ type: "hello" }, { type: "info", row: 4 }, { type: "rescan", force: true }]);
  kernel.dispose();
});

test("a busy answer to a tooltip request is asked again, backing off, then given up", async () => {
  const { model, kernel, arrived } = setup({ scale: 10, tx: 0, ty: 0 });
  assert.equal(readReply({ type: "info", version: 1, row: 4, meta: null, busy: true }, 0)?.row, 4);
  const busy = () => model.message({ type: "info", version: 1, row: 4, meta: null, busy: true }, []);
  const asked = () => model.sent.filter((m) => m.type === "info" && m.row === 4).length;
  busy();
  await tick(250);
  assert.equal(asked(), 0, "not at once");
  await tick(100);
  assert.equal(asked(), 1, "after 300 ms");
  busy();
  await tick(650);
  assert.equal(asked(), 2, "after 600 ms more");
  busy();
  await tick(1250);
  busy();
  await tick(2500);
  assert.equal(asked(), 3, "three tries, then it stops");
  assert.equal(arrived.length, 0);
  model.message({ type: "info", version: 1, row: 4, meta: {} }, []);
  assert.deepEqual(arrived.map((a) => a[0]), [4]);
  busy();
  kernel.dispose();
  await tick(400);
  assert.equal(asked(), 3, "no retry after teardown");
});

test("rows changed in place: their sharp thumbnails and every renumbered row's are forgotten", () => {
  const rows = { type: "rows", version: 1, rows: [2], shifted: 5 };
  assert.equal(readReply(rows, 0), rows);
  assert.equal(readReply({ ...rows, shifted: "5" }, 0), null);
  assert.equal(readReply({ ...rows, rows: [null] }, 0), null);
  const closed = [];
  const bmp = (row) => ({ close: () => closed.push(row) });
  const sharp = new Map([0, 2, 4, 5, 9].map((r) => [r, { size: 64, bmp: bmp(r) }]));
  assert.equal(forgetRows(sharp, [2], 5), 3);
  assert.deepEqual([...sharp.keys()], [0, 4]);
  assert.deepEqual(closed, [2, 5, 9]);
  const { model, grid, kernel, redraws, cleared, store } = setup();
  grid.sharp.set(1, { size: 64, bmp: bmp(1) });
  grid.sharp.set(3, { size: 64, bmp: bmp(3) });
  model.message({ type: "rows", version: 1, rows: [1], shifted: 36 }, []);
  assert.deepEqual([...grid.sharp.keys()], [3]);
  assert.equal(cleared(), 1, "tooltip details are asked again");
  assert.equal(redraws(), 1);
  assert.equal(store.get().version, 1, "the same version: the view stays");
  model.message({ type: "rows", version: 0, rows: [3], shifted: 36 }, []); // another version
  assert.deepEqual([...grid.sharp.keys()], [3]);
  kernel.dispose();
});
