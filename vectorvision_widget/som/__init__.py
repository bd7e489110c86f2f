"""Self-organising maps: training, one cell per image, grid layouts.

Owns `SOM` (`map`: parameters, schedule, quality metrics, `fit_async`), the numeric kernels
(`training`: PCA init, best-matching units, batch update), unique-cell placement (`cells`), the
widget's dense map, warm starts and incremental placement (`dense`), and grid layouts (`layout`:
default grid sizes, custom 2-D coordinates to cells).

May import: numpy only (and `errors`): a SOM takes plain arrays and knows nothing of images.
"""

from vectorvision_widget.som.dense import default_layout, dense_layout, place_rows, warm_layout
from vectorvision_widget.som.map import SOM, FitHandle, Progress

__all__ = [
    "SOM",
    "FitHandle",
    "Progress",
    "default_layout",
    "dense_layout",
    "place_rows",
    "warm_layout",
]
