import assert from "node:assert/strict";
import { test } from "node:test";
import { asBytes, asFloat32, asInt32, asUint8 } from "../codecs.js";

// Little-endian bytes written independently with DataView setters.
function bytesOf(values, setter, size, offset) {
  const buf = new ArrayBuffer(offset + values.length * size + 3);
  const dv = new DataView(buf);
  values.forEach((v, i) => dv[setter](offset + i * size, v, true));
  return new DataView(buf, offset, values.length * size);
}

test("asInt32 respects an aligned byteOffset without copying", () => {
  const dv = bytesOf([7, -2, 123456], "setInt32", 4, 8);
  const a = asInt32(dv);
  assert.deepEqual([...a], [7, -2, 123456]);
  assert.equal(a.buffer, dv.buffer); // a view, not a copy
  assert.equal(a.byteOffset, 8);
});

test("asInt32 and asFloat32 copy when the byteOffset is unaligned", () => {
  const dv = bytesOf([1, 2, -3], "setInt32", 4, 3);
  assert.deepEqual([...asInt32(dv)], [1, 2, -3]);
  const fv = bytesOf([0.5, -1.25], "setFloat32", 4, 5);
  assert.deepEqual([...asFloat32(fv)], [0.5, -1.25]);
});

test("asUint8 views only the DataView's window", () => {
  const buf = new Uint8Array([9, 9, 1, 2, 3, 9]).buffer;
  assert.deepEqual([...asUint8(new DataView(buf, 2, 3))], [1, 2, 3]);
});

test("empty and ArrayBuffer inputs; non-binary input is refused", () => {
  assert.equal(asInt32(null).length, 0);
  assert.equal(asFloat32(new DataView(new ArrayBuffer(0))).length, 0);
  assert.deepEqual([...asBytes(new Uint8Array([4, 5]).buffer)], [4, 5]);
  assert.throws(() => asBytes([1, 2]), TypeError);
});

test("fromWire: dtype and shape travel with the bytes; short data is refused", async () => {
  const { fromWire } = await import("../codecs.js");
  const cells = Int32Array.from([1, 2, 3, 4, 5, 6]);
  const w = fromWire({ view: new DataView(cells.buffer), dtype: "int32", shape: [3, 2] });
  assert.ok(w.data instanceof Int32Array);
  assert.deepEqual([...w.data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(w.shape, [3, 2]);
  const f = Float32Array.from([0.5, 0.25, 9]);
  assert.deepEqual([...fromWire({ view: new DataView(f.buffer), dtype: "float32", shape: [2] }).data], [0.5, 0.25]);
  assert.deepEqual(fromWire(null), { data: new Uint8Array(0), shape: [0] });
  assert.throws(() => fromWire({ view: new DataView(cells.buffer), dtype: "complex64", shape: [1] }), TypeError);
  assert.throws(() => fromWire({ view: new DataView(cells.buffer), dtype: "int32", shape: [4, 2] }), RangeError);
});
