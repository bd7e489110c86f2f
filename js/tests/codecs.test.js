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
