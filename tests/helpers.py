"""Small helpers shared by test modules (importable because conftest puts tests/ on sys.path)."""

from __future__ import annotations

import struct
import time
import zlib
from typing import Any


def capture_sends(w: Any) -> list[tuple[dict[str, Any], list[bytes]]]:
    """Replace the widget's `send` so every custom message (content, buffers) is recorded."""
    sent: list[tuple[dict[str, Any], list[bytes]]] = []
    w.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))
    return sent


def wait_for(pred: Any, timeout: float = 10.0) -> None:
    """Poll `pred()` until it is true; AssertionError after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid-looking PNG header claiming width×height RGB pixels, with a tiny IDAT."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
