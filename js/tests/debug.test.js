import assert from "node:assert/strict";
import { test } from "node:test";
import { debugEnabled, makeStats, record } from "../debug.js";

test("stats exist only with the debug flag; record keeps the last 600", () => {
  delete globalThis.__vvDebug;
  assert.equal(debugEnabled(), false);
  assert.equal(makeStats(), null);
  record(null, "drawMs", 1); // a no-op
  globalThis.__vvDebug = true;
  const s = makeStats();
  for (let i = 0; i < 700; i++) record(s, "drawMs", i);
  assert.equal(s.drawMs.length, 600);
  assert.equal(s.drawMs[0], 100);
  delete globalThis.__vvDebug;
});
