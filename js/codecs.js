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

const WIRE_TYPES = {
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array,
  int32: Int32Array, uint32: Uint32Array, float32: Float32Array, float64: Float64Array,
};

/**
 * A synced array trait as sent by Python (`serialize.ArrayTrait`): `{view, dtype, shape}`.
 * Returns the typed array of that dtype (aligned: copied only when the offset is not) and the
 * shape; a missing or empty value gives an empty array of shape [0].
 * @param {{view: DataView|ArrayBuffer|ArrayBufferView, dtype: string, shape: number[]}|null|undefined} w
 * @returns {{data: Int8Array|Uint8Array|Int16Array|Uint16Array|Int32Array|Uint32Array|Float32Array|Float64Array, shape: number[]}}
 */
export function fromWire(w) {
  if (!w || !w.view) return { data: new Uint8Array(0), shape: [0] };
  const Ctor = WIRE_TYPES[w.dtype];
  if (!Ctor) throw new TypeError(`unknown array dtype ${w.dtype}`);
  const shape = Array.isArray(w.shape) ? w.shape.map(Number) : [];
  const count = shape.reduce((a, b) => a * b, 1);
  const data = typed(w.view, Ctor);
  if (data.length < count) throw new RangeError(`array of shape [${shape}] needs ${count} values, got ${data.length}`);
  return { data: data.length === count ? data : data.subarray(0, count), shape };
}
