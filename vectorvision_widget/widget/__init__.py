"""The widget: `VectorVision`, the anywidget a notebook shows, and its kernel-side work.

Owns the traits and public methods (`widget`), the message protocol shared with js/
(`protocol`), background jobs (`jobs`), the browser's requests and their binary answers
(`requests`), the long tasks of a map (`mapwork`: layout, neighbour table, thumbnails, search,
rescan), what each mode shows (`mapdata`), incremental refreshes (`increments`), region labels
(`labels`), filters and search counts (`finding`), actions on a selection (`actions`,
`selection_export`), the duplicate review (`duplicates_review`), the overview's mosaics kept in
step with the map (`overview`), the self-contained HTML map (`export`) and the wire codecs
(`serialize`).

May import everything below it: `library`, `scanning`, `som`, `neighbours`, `thumbs`, `images`,
`modes`. Nothing imports the widget except the package's lazy `vv.VectorVision`.
"""

from vectorvision_widget.widget.widget import ModeError, VectorVision

__all__ = ["ModeError", "VectorVision"]
