"""Images: the one open/decode of the package and the models' preprocessing.

Owns `decode` (regular files only, pixel budget, draft decoding, EXIF orientation, RGB with its
alpha kept for display), `metadata` (EXIF date, camera, GPS, size, read from the header already
open), `preprocess` (the `Preprocess` spec and the tensors it makes) and `colors` (alpha-weighted
average colour, palette, CIELAB distances).

May import: nothing else of the package (Pillow and numpy only); every other layer may use it.
"""

from vectorvision_widget.images.decode import (
    ImageDecodeError,
    file_metadata,
    image_info,
    open_image,
    thumbnail,
)
from vectorvision_widget.images.metadata import image_metadata
from vectorvision_widget.images.preprocess import Preprocess, load_for_models

__all__ = [
    "ImageDecodeError",
    "Preprocess",
    "file_metadata",
    "image_info",
    "image_metadata",
    "load_for_models",
    "open_image",
    "thumbnail",
]
