"""Binary codecs between the kernel and the browser.

Big arrays cross to JS as raw little-endian bytes, never as JSON lists or base64: at 100k images
a neighbour table is 8 MB of bytes but ~30 MB of JSON text and slow to parse. A synced array trait
(:class:`ArrayTrait`) travels as ``{"view": bytes, "dtype": "int32", "shape": [n, 2]}`` (the
convention of lonboard and jupyter-scatter), so shape and dtype come with the bytes and JS needs
no side traits; ``js/codecs.js`` (``fromWire``) views them with typed arrays, respecting the
DataView's ``byteOffset``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import traitlets

__all__ = [
    "ArrayTrait",
    "ArraysTrait",
    "array_from_json",
    "array_to_json",
    "decode_array",
    "encode_array",
    "narrow_to_json",
    "quantized_to_json",
]

_WIRE_DTYPES = {
    np.dtype(np.float64): np.dtype("<f4"),
    np.dtype(np.int64): np.dtype("<i4"),
    np.dtype(np.uint64): np.dtype("<u4"),
}


def encode_array(arr: npt.ArrayLike, dtype: str | None = None) -> bytes:
    """C-contiguous little-endian bytes of ``arr``; float64/int64 shrink to 32 bits (JS has no
    fast 64-bit typed arrays and the map needs neither range nor precision)."""
    a = np.asarray(arr)
    target = np.dtype(dtype) if dtype else _WIRE_DTYPES.get(a.dtype, a.dtype)
    target = target.newbyteorder("<") if target.itemsize > 1 else target
    return np.ascontiguousarray(a, dtype=target).tobytes()


def decode_array(buf: bytes | memoryview, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`encode_array` (used by tests and the benchmark)."""
    return np.frombuffer(buf, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


_JS_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64")


def wire_array(arr: npt.ArrayLike, dtype: str | None = None) -> np.ndarray:
    """``arr`` as a C-contiguous little-endian array of a dtype JS has a typed array for."""
    a = np.asarray(arr)
    target = np.dtype(dtype) if dtype else _WIRE_DTYPES.get(a.dtype, a.dtype)
    if target.name not in _JS_DTYPES:
        msg = f"cannot send dtype {target} to the browser; use one of {_JS_DTYPES}"
        raise TypeError(msg)
    target = target.newbyteorder("<") if target.itemsize > 1 else target
    return np.ascontiguousarray(a, dtype=target)


def _to_wire(value: npt.ArrayLike) -> dict[str, Any]:
    """``{"view", "dtype", "shape"}`` of one array."""
    a = wire_array(value)
    view = a.reshape(-1).view(np.uint8).data  # 1-D bytes without a copy
    return {"view": view, "dtype": a.dtype.name, "shape": list(a.shape)}


def array_to_json(value: npt.ArrayLike | None, _widget: object = None) -> dict[str, Any] | None:
    """Serializer of :class:`ArrayTrait`: ``{"view", "dtype", "shape"}`` (None stays None)."""
    return None if value is None else _to_wire(value)


def narrow_to_json(value: npt.ArrayLike | None, _widget: object = None) -> dict[str, Any] | None:
    """Like :func:`array_to_json`, but non-negative integers below 65536 travel as uint16 (grid
    cells: half the bytes of int32, 4 MB instead of 8 at 1M images); JS widens on receipt."""
    if value is not None:
        a = np.asarray(value)
        if a.size and np.issubdtype(a.dtype, np.integer) and a.min() >= 0 and a.max() < 65536:
            return array_to_json(a.astype(np.uint16))
    return array_to_json(value)


def array_from_json(value: dict[str, Any] | None, _widget: object = None) -> np.ndarray | None:
    """Deserializer of :class:`ArrayTrait` (the browser never sends arrays today; tests use it)."""
    if value is None:
        return None
    dtype = str(value["dtype"])
    if dtype not in _JS_DTYPES:
        msg = f"array from the browser has dtype {dtype!r}; expected one of {_JS_DTYPES}"
        raise TypeError(msg)
    shape = tuple(int(s) for s in value["shape"])
    arr = decode_array(bytes(value["view"]), dtype, shape)
    if value.get("range") is not None:  # quantised floats (see quantized_to_json)
        lo, hi = (float(x) for x in value["range"])
        floats: np.ndarray = lo + arr.astype(np.float32) * np.float32((hi - lo) / 65535)
        return floats.astype(np.float32)
    return arr


def quantized_to_json(value: npt.ArrayLike, lo: float, hi: float) -> dict[str, Any]:
    """Floats in [lo, hi] as uint16 steps plus ``"range": [lo, hi]`` (JS turns them back into a
    Float32Array): half the bytes of float32, error ≤ (hi − lo) / 131070 (1.5e-5 for cosines)."""
    a = np.nan_to_num(np.asarray(value, np.float64), nan=lo, posinf=hi, neginf=lo)
    q = np.rint((np.clip(a, lo, hi) - lo) * (65535 / (hi - lo))).astype(np.uint16)
    return {**_to_wire(q), "range": [lo, hi]}


class _AssignNotifies(traitlets.TraitType[Any, Any]):
    """A trait that notifies whenever a new object is assigned: identity, not ``==`` (an
    element-wise comparison of arrays would cost O(N) per update and is ambiguous for numpy)."""

    def set(self, obj: traitlets.HasTraits, value: Any) -> None:
        name = self.name
        assert name is not None  # traitlets names a trait when its class is created
        new = self._validate(obj, value)
        old = obj._trait_values.get(name, self.default_value)
        obj._trait_values[name] = new
        if new is not old:
            obj._notify_trait(name, old, new)


class ArrayTrait(_AssignNotifies):
    """A numpy array trait that syncs as ``{view, dtype, shape}`` bytes: the serializers come with
    the trait, so ``ArrayTrait("int32", cols=2).tag(sync=True)`` is the whole declaration;
    ``narrow=True`` sends small non-negative integers as uint16 (:func:`narrow_to_json`).

    Values are coerced to ``dtype`` and checked for ``ndim`` / ``cols``; assigning a new array
    always notifies (identity, not element-wise comparison: that would cost O(N) per update).
    """

    info_text = "a numpy array"

    def __init__(
        self,
        dtype: str,
        *,
        ndim: int | None = None,
        cols: int | None = None,
        narrow: bool = False,
        **kwargs: Any,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.ndim, self.cols = ndim, cols
        shape = (0,) * (ndim or 1)
        if cols is not None:
            shape = (0, cols)
        super().__init__(np.zeros(shape, self.dtype), **kwargs)
        self.tag(to_json=narrow_to_json if narrow else array_to_json, from_json=array_from_json)

    def validate(self, obj: traitlets.HasTraits | None, value: Any) -> np.ndarray:
        try:
            arr = np.ascontiguousarray(value, dtype=self.dtype)
        except (TypeError, ValueError) as err:
            msg = f"{self.name}: expected an array of {self.dtype}, got {type(value).__name__}"
            raise traitlets.TraitError(msg) from err
        if self.ndim is not None and arr.ndim != self.ndim:
            msg = f"{self.name}: expected {self.ndim} dimensions, got shape {arr.shape}"
            raise traitlets.TraitError(msg)
        if self.cols is not None and arr.shape[-1] != self.cols:
            msg = f"{self.name}: expected {self.cols} columns, got shape {arr.shape}"
            raise traitlets.TraitError(msg)
        return arr


def arrays_to_json(
    value: dict[str, np.ndarray] | None,
    _widget: object = None,
    quantize: dict[str, tuple[float, float]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Serializer of :class:`ArraysTrait`: each array as ``{view, dtype, shape}`` (keys named in
    ``quantize`` as uint16 steps of their range, :func:`quantized_to_json`)."""
    q = quantize or {}
    return {
        key: quantized_to_json(arr, *q[key]) if key in q else _to_wire(arr)
        for key, arr in (value or {}).items()
    }


class ArraysTrait(_AssignNotifies):
    """Several arrays that change together (e.g. a neighbour table's ``idx`` and ``scores``),
    synced in one message as ``{name: {view, dtype, shape}}``; declared like :class:`ArrayTrait`
    with ``dtypes={"idx": "int32", ...}``; ``quantize={"scores": (-1, 1)}`` sends those floats
    as uint16 steps of that range (a neighbour table's cosines: 20 MB less at 1M images)."""

    info_text = "a dict of numpy arrays"

    def __init__(
        self,
        dtypes: dict[str, str],
        *,
        quantize: dict[str, tuple[float, float]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.dtypes = {k: np.dtype(v) for k, v in dtypes.items()}
        super().__init__({k: np.zeros((0, 0), d) for k, d in self.dtypes.items()}, **kwargs)
        q = dict(quantize or {})
        self.tag(to_json=lambda value, widget: arrays_to_json(value, widget, q))

    def validate(self, obj: traitlets.HasTraits | None, value: Any) -> dict[str, np.ndarray]:
        if not isinstance(value, dict) or set(value) != set(self.dtypes):
            msg = f"{self.name}: expected a dict with keys {sorted(self.dtypes)}"
            raise traitlets.TraitError(msg)
        return {k: np.ascontiguousarray(value[k], dtype=d) for k, d in self.dtypes.items()}
