"""Thumbnails: the tiles the map draws and the sidecar cache that keeps them.

Owns tiles and JPEG atlases, sharp tiles on demand (`tiles`), the overview's tile pyramid
(`pyramid`: the whole map pre-composed into JPEG mosaics per zoom level, built from the atlases)
and the thumbnail sidecar beside a library (`cache`: packs with a checksummed index, never
written into the image folders).

May import: `images`, `atomicfile`. Knows nothing about libraries or the widget.
"""
