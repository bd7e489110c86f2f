"""Binary codecs between the kernel and the browser.

Big arrays cross to JS as raw little-endian bytes (a traitlets ``Bytes`` trait or a buffer of
``model.send``), never as JSON lists or base64: at 100k images a neighbour table is 8 MB of bytes
but ~30 MB of JSON text and slow to parse. JS views them with typed arrays (``js/codecs.js``),
which must respect the DataView's ``byteOffset``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["decode_array", "encode_array", "encode_jpeg"]

_WIRE_DTYPES = {
    np.dtype(np.float64): np.dtype("<f4"),
    np.dtype(np.int64): np.dtype("<i4"),
    np.dtype(np.uint64): np.dtype("<u4"),
}


def encode_array(arr: Any, dtype: str | None = None) -> bytes:
    """C-contiguous little-endian bytes of ``arr``; float64/int64 shrink to 32 bits (JS has no
    fast 64-bit typed arrays and the map needs neither range nor precision)."""
    a = np.asarray(arr)
    target = np.dtype(dtype) if dtype else _WIRE_DTYPES.get(a.dtype, a.dtype)
    target = target.newbyteorder("<") if target.itemsize > 1 else target
    return np.ascontiguousarray(a, dtype=target).tobytes()


def decode_array(buf: bytes | memoryview, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`encode_array` (used by tests and the benchmark)."""
    return np.frombuffer(buf, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def encode_jpeg(img: Image.Image, quality: int = 80) -> bytes:
    """JPEG bytes of an RGB image; the browser decodes them with ``createImageBitmap``."""
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=quality, optimize=False)
    return out.getvalue()
