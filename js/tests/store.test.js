import assert from "node:assert/strict";
import { test } from "node:test";
import { Store } from "../store.js";

test("set patches the state and calls the watchers of changed keys once, in order", () => {
  const store = new Store({ a: 1, b: "x", c: [1] });
  const seen = [];
  store.watch(["a"], (s) => seen.push(["a", s.a]));
  store.watch(["a", "b"], (s) => seen.push(["ab", s.a, s.b]));
  assert.deepEqual(store.set({ a: 2, b: "y" }), ["a", "b"]);
  assert.deepEqual(seen, [["a", 2], ["ab", 2, "y"]]);
  assert.deepEqual(store.get(), { a: 2, b: "y", c: [1] });
});

test("an unchanged value (Object.is) calls nobody; a new array of equal content does", () => {
  const arr = [1];
  const store = new Store({ a: 1, c: arr, n: NaN });
  let calls = 0;
  store.watch(["a", "c", "n"], () => { calls += 1; });
  assert.deepEqual(store.set({ a: 1, c: arr, n: NaN }), []);
  assert.equal(calls, 0);
  store.set({ c: [1] });
  assert.equal(calls, 1);
});

test("watchers see the whole new state; unwatch and clear stop them, also during a set", () => {
  const store = new Store({ a: 0, b: 0 });
  const seen = [];
  let unwatchSecond = () => {};
  store.watch(["a"], () => { seen.push("first"); unwatchSecond(); });
  unwatchSecond = store.watch(["a"], () => seen.push("second"));
  store.set({ a: 1 });
  assert.deepEqual(seen, ["first"]); // removed by the first watcher before its turn
  const un = store.watch(["b"], (s) => seen.push(`b=${s.b} a=${s.a}`));
  store.set({ a: 2, b: 5 });
  assert.deepEqual(seen.slice(-2), ["first", "b=5 a=2"]);
  un();
  store.set({ b: 6 });
  assert.equal(seen.length, 3);
  store.clear();
  store.set({ a: 9 });
  assert.equal(seen.length, 3);
});
