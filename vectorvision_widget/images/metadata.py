"""Photo metadata from EXIF: when (`taken`), with what (`camera`) and where (`gps`) a photo was
made, and its displayed size.

Read from the header the decoder already opened (`decode.open_image` keeps the result in
``img.info["photo_metadata"]``), so the scan never reads a file twice for it;
`decode.file_metadata` opens only the header, for refreshing the metadata of files whose pixels
did not change.
Camera EXIF is hostile ground (zero dates, NUL-padded strings, GPS rationals with zero
denominators, truncated IFDs): every field that cannot be read is None and nothing here raises
for a bad file's EXIF.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from PIL import Image

__all__ = [
    "METADATA_KEYS",
    "blank_metadata",
    "exif_metadata",
    "image_metadata",
    "orientation",
    "oriented_size",
]

#: The record fields this module fills (`decode.file_metadata` adds width and height).
METADATA_KEYS = ("taken", "camera", "gps")

_MAKE, _MODEL, _ORIENTATION = 0x010F, 0x0110, 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATE_TIME_ORIGINAL, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_MAX_TEXT = 200  # a camera name longer than this is garbage, not a name


def blank_metadata() -> dict[str, Any]:
    """The fields of a photo without (readable) EXIF."""
    return dict.fromkeys(METADATA_KEYS)


def _text(value: Any) -> str | None:
    """An EXIF ASCII value as clean text (NUL padding and whitespace stripped), else None."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = " ".join(value.replace("\x00", " ").split())
    return text if text and len(text) <= _MAX_TEXT and text.isprintable() else None


def _taken(exif_ifd: dict[int, Any]) -> str | None:
    """DateTimeOriginal as ISO 8601 ("2023-07-14T18:03:21"), with OffsetTimeOriginal appended
    when the camera wrote a valid one ("…+02:00"); None for a missing or impossible date."""
    text = _text(exif_ifd.get(_DATE_TIME_ORIGINAL))
    if text is None:
        return None
    try:
        when = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:  # "0000:00:00 00:00:00", "    :  :     :  :  ", other layouts
        return None
    iso = when.isoformat()
    offset = _text(exif_ifd.get(_OFFSET_TIME_ORIGINAL))
    m = _OFFSET.match(offset) if offset else None
    if m and int(m.group(2)) <= 14 and int(m.group(3)) < 60:
        iso += f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    return iso


def _camera(ifd0: Any) -> str | None:
    """ "Make Model", without the make twice when the model already starts with it
    ("Canon Canon EOS 5D" → "Canon EOS 5D")."""
    make, model = _text(ifd0.get(_MAKE)), _text(ifd0.get(_MODEL))
    if make and model and model.casefold().startswith(make.casefold()):
        return model
    name = " ".join(part for part in (make, model) if part)
    return name or None


def _degrees(value: Any) -> float | None:
    """(degrees, minutes, seconds) rationals (or one number) as decimal degrees."""
    try:
        parts = [float(v) for v in value] if isinstance(value, (tuple, list)) else [float(value)]
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None
    return float(sum(p / 60**i for i, p in enumerate(parts)))


def _gps(gps_ifd: dict[int, Any]) -> list[float] | None:
    """[lat, lon] in decimal degrees (south and west negative), None when absent, out of range
    or exactly (0, 0) (what some cameras write without a fix)."""
    lat, lon = _degrees(gps_ifd.get(_GPS_LAT)), _degrees(gps_ifd.get(_GPS_LON))
    if lat is None or lon is None:
        return None
    lat_ref = (_text(gps_ifd.get(_GPS_LAT_REF)) or "N").upper()
    lon_ref = (_text(gps_ifd.get(_GPS_LON_REF)) or "E").upper()
    if lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
        return None
    lat, lon = (-lat if lat_ref == "S" else lat), (-lon if lon_ref == "W" else lon)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return [round(lat, 7), round(lon, 7)]


def _field(read: Any, *args: Any) -> Any:
    """One field's value; None when its part of the EXIF is broken (the others still count)."""
    try:
        return read(*args)
    except Exception:  # hostile EXIF raises anything (struct.error, KeyError, ...)
        return None


def exif_metadata(exif: Image.Exif) -> dict[str, Any]:
    """`taken`, `camera` and `gps` from a Pillow `Image.Exif`; each None when unreadable."""
    exif_ifd = _field(exif.get_ifd, _EXIF_IFD) or {}
    gps_ifd = _field(exif.get_ifd, _GPS_IFD) or {}
    return {
        "taken": _field(_taken, exif_ifd),
        "camera": _field(_camera, exif),
        "gps": _field(_gps, gps_ifd),
    }


def image_metadata(img: Image.Image) -> dict[str, Any]:
    """`taken`, `camera` and `gps` of an opened image (its EXIF as Pillow read it with the
    header); all None without EXIF or with EXIF Pillow cannot parse."""
    try:
        exif = img.getexif()
    except Exception:  # a broken EXIF block never fails the image
        return blank_metadata()
    if not exif:
        return blank_metadata()
    return exif_metadata(exif)


def orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8) of an opened image; 1 when absent or unreadable."""
    try:
        value = img.getexif().get(_ORIENTATION, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """(width, height) as displayed: EXIF orientations 5–8 turn the picture by 90°."""
    w, h = size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
