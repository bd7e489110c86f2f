// Binary codecs: traitlets.Bytes arrive as DataView (or ArrayBuffer / typed array) whose
// byteOffset may be non-zero and not aligned, so always view with offset and copy if unaligned.

/** @param {DataView|ArrayBuffer|ArrayBufferView|null|undefined} v @returns {Uint8Array} */
export function asBytes(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError(`expected binary data, got ${Object.prototype.toString.call(v)}`);
}

/** @typedef {Int8Array|Uint8Array|Int16Array|Uint16Array|Int32Array|Uint32Array|Float32Array|Float64Array} TypedArray */
/** @typedef {{new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray, BYTES_PER_ELEMENT: number}} TypedArrayCtor */

/**
 * @param {DataView|ArrayBuffer|ArrayBufferView|null|undefined} v @param {TypedArrayCtor} Ctor
 * @returns {TypedArray}
 */
function typed(v, Ctor) {
  const bytes = asBytes(v);
  const size = Ctor.BYTES_PER_ELEMENT;
  const n = Math.floor(bytes.byteLength / size);
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, n);
  const copy = new Uint8Array(n * size); // unaligned: copy into a fresh, aligned buffer
  copy.set(bytes.subarray(0, n * size));
  return new Ctor(copy.buffer, 0, n);
}

/** @param {DataView|ArrayBuffer|ArrayBufferView|null|undefined} v @returns {Int32Array} */
export const asInt32 = (v) => /** @type {Int32Array} */ (typed(v, Int32Array));
/** @param {DataView|ArrayBuffer|ArrayBufferView|null|undefined} v @returns {Float32Array} */
export const asFloat32 = (v) => /** @type {Float32Array} */ (typed(v, Float32Array));
/** @param {DataView|ArrayBuffer|ArrayBufferView|null|undefined} v @returns {Uint8Array} */
export const asUint8 = (v) => asBytes(v);

/**
 * A Blob of JPEG bytes from a message buffer, for createImageBitmap.
 * @param {DataView|ArrayBuffer|ArrayBufferView|null|undefined} v @returns {Blob}
 */
export function jpegBlob(v) {
  const b = asBytes(v);
  return new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (b)], { type: "image/jpeg" });
}

/** @type {Record<string, TypedArrayCtor>} */
const WIRE_TYPES = {
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array,
  int32: Int32Array, uint32: Uint32Array, float32: Float32Array, float64: Float64Array,
};

/**
 * A synced array trait as sent by Python (`serialize.ArrayTrait`): `{view, dtype, shape}`.
 * Returns the typed array of that dtype (aligned: copied only when the offset is not) and the
 * shape; with `range: [lo, hi]` the uint16 steps come back as a Float32Array. A missing or
 * empty value gives an empty array of shape [0].
 * @param {{view: DataView|ArrayBuffer|ArrayBufferView, dtype: string, shape: number[], range?: number[]}|null|undefined} w
 * @returns {{data: Int8Array|Uint8Array|Int16Array|Uint16Array|Int32Array|Uint32Array|Float32Array|Float64Array, shape: number[]}}
 */
export function fromWire(w) {
  if (!w || !w.view) return { data: new Uint8Array(0), shape: [0] };
  const Ctor = WIRE_TYPES[w.dtype];
  if (!Ctor) throw new TypeError(`unknown array dtype ${w.dtype}`);
  const shape = Array.isArray(w.shape) ? w.shape.map(Number) : [];
  const count = shape.reduce((a, b) => a * b, 1);
  const raw = typed(w.view, Ctor);
  if (raw.length < count) throw new RangeError(`array of shape [${shape}] needs ${count} values, got ${raw.length}`);
  const data = raw.length === count ? raw : raw.subarray(0, count);
  if (Array.isArray(w.range)) { // quantised floats: uint16 steps of [lo, hi] (serialize.quantized_to_json)
    const [lo, hi] = w.range.map(Number);
    const step = (hi - lo) / 65535;
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = lo + data[i] * step;
    return { data: out, shape };
  }
  return { data, shape };
}
