// Binary codecs: traitlets.Bytes arrive as DataView (or ArrayBuffer / typed array) whose
// byteOffset may be non-zero and not aligned, so always view with offset and copy if unaligned.

/** @param {DataView|ArrayBuffer|ArrayBufferView|null|undefined} v @returns {Uint8Array} */
export function asBytes(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError(`expected binary data, got ${Object.prototype.toString.call(v)}`);
}

function typed(v, Ctor) {
  const bytes = asBytes(v);
  const size = Ctor.BYTES_PER_ELEMENT;
  const n = Math.floor(bytes.byteLength / size);
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, n);
  const copy = new Uint8Array(n * size); // unaligned: copy into a fresh, aligned buffer
  copy.set(bytes.subarray(0, n * size));
  return new Ctor(copy.buffer, 0, n);
}

/** @returns {Int32Array} */
export const asInt32 = (v) => typed(v, Int32Array);
/** @returns {Float32Array} */
export const asFloat32 = (v) => typed(v, Float32Array);
/** @returns {Uint8Array} */
export const asUint8 = (v) => asBytes(v);

/** A Blob of JPEG bytes from a message buffer, for createImageBitmap. */
export function jpegBlob(v) {
  const b = asBytes(v);
  return new Blob([b], { type: "image/jpeg" });
}
