"""The custom-message protocol between the kernel and the browser, defined once.

Besides the synced traits, the two sides talk in custom messages: JSON objects with a ``type``,
plus binary buffers. *Requests* go from the browser to the kernel (``model.send`` in js/), and
*replies* from the kernel to the browser (``widget.send``). Each message is a ``TypedDict``
below; that one definition

- validates every request on receipt (:func:`parse_request`: type, bounds, list lengths),
- types the replies the kernel builds (mypy checks ``BrowserRequests`` and the widget), and
- is rendered as TypeScript into ``js/types.d.ts`` (:func:`typescript`; the block between the
  ``protocol`` markers there is generated: ``python -c "from vectorvision_widget.widget import
  protocol; protocol.write_types()"``, and ``tests/test_protocol.py`` fails when they differ).

Buffers: an ``atlas`` reply carries one JPEG; a ``thumbs`` reply one JPEG per entry of ``rows``
(same order); an ``info`` reply one JPEG (the tooltip image) or none; a ``mosaics`` reply one
JPEG per mosaic of its level (row-major); a ``rows`` reply none; the others none. Requests carry
none, but a ``query_image`` request, which carries the dropped or pasted file's bytes as its one
buffer (``size`` bytes, at most :data:`MAX_QUERY_IMAGE_BYTES`). Actions on the selection
(``tag``, ``paths``) act on the kernel's ``selected``.
Imports nothing from the package.
"""

from __future__ import annotations

import math
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    TypedDict,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

__all__ = [
    "MAX_QUERY_IMAGE_BYTES",
    "MAX_ROWS_PER_REQUEST",
    "MAX_SAFE_INT",
    "REPLIES",
    "REQUESTS",
    "AtlasReply",
    "BadRequestError",
    "Between",
    "HelloRequest",
    "InfoMeta",
    "InfoReply",
    "InfoRequest",
    "LikeRequest",
    "MaxLen",
    "MosaicsReply",
    "NamesReply",
    "NamesRequest",
    "PathsReply",
    "PathsRequest",
    "QueryImageRequest",
    "Reply",
    "Request",
    "RescanRequest",
    "ReviewRequest",
    "RowsReply",
    "TagRequest",
    "ThumbsReply",
    "ThumbsRequest",
    "parse_request",
    "typescript",
    "write_types",
]

MAX_ROWS_PER_REQUEST = 256
MAX_TAGS_PER_REQUEST = 16
MAX_TAG_CHARS = 200
MAX_SAFE_INT = 2**53  #: JS numbers stay exact below this
MAX_QUERY_IMAGE_BYTES = 32 * 2**20  #: largest image file a drop or paste may send
MAX_NAME = 255  #: longest file name a request may carry


class BadRequestError(ValueError):
    """A browser message with a missing, mistyped or out-of-range field."""


@dataclass(frozen=True)
class Between:
    """Inclusive bounds of an integer field (checked by :func:`parse_request`)."""

    lo: int
    hi: int


@dataclass(frozen=True)
class MaxLen:
    """Most entries a list field may hold (checked by :func:`parse_request`)."""

    n: int


# ---------------------------------------------------------------------- browser -> kernel


class HelloRequest(TypedDict):
    """A view rendered: send the overview's mosaics and the atlases built so far."""

    type: Literal["hello"]


class ThumbsRequest(TypedDict):
    """Sharper thumbnails for the visible cells of a zoomed-in view."""

    type: Literal["thumbs"]
    rows: Annotated[list[int], MaxLen(MAX_ROWS_PER_REQUEST)]
    """Library rows; rows of an older library version are skipped."""
    size: Annotated[int, Between(1, 4096)]
    """Wanted tile px; the kernel answers with the nearest of ``_sharp_sizes``."""
    req: Annotated[int, Between(0, MAX_SAFE_INT)]
    """Request number, echoed in the reply."""


class InfoRequest(TypedDict):
    """Tooltip details of one row."""

    type: Literal["info"]
    row: Annotated[int, Between(0, MAX_SAFE_INT)]


class _Rescan(TypedDict):
    type: Literal["rescan"]


class RescanRequest(_Rescan, total=False):
    """The ⟳ button: rescan the library's folders (``force``: re-embed everything)."""

    force: bool


class _Tag(TypedDict):
    type: Literal["tag"]
    names: Annotated[list[Annotated[str, MaxLen(MAX_TAG_CHARS)]], MaxLen(MAX_TAGS_PER_REQUEST)]
    """Tag names (``lib.tag`` rules: non-empty after stripping)."""


class TagRequest(_Tag, total=False):
    """Tag (or with ``remove``, untag) the selected images: ``lib.tag(w.selected, *names)``."""

    remove: bool


class PathsRequest(TypedDict):
    """The paths of the selected images (for the clipboard)."""

    type: Literal["paths"]


class NamesRequest(TypedDict):
    """File names of some rows (the neighbour panel's captions)."""

    type: Literal["names"]
    rows: Annotated[list[int], MaxLen(MAX_ROWS_PER_REQUEST)]


class ReviewRequest(TypedDict):
    """Open the duplicate review: find the groups (``lib.duplicates()``) in the background."""

    type: Literal["review"]


class QueryImageRequest(TypedDict):
    """An image file dropped or pasted on the map (buffer 0: its bytes): highlight the images
    most like it, as ``w.query_image`` does."""

    type: Literal["query_image"]
    name: Annotated[str, MaxLen(MAX_NAME)]
    """The file's name (shown in the hit count)."""
    size: Annotated[int, Between(1, MAX_QUERY_IMAGE_BYTES)]
    """Bytes in buffer 0 (checked against the buffer)."""
    space: Literal["visual", "semantic", "hybrid"]


class LikeRequest(TypedDict):
    """ "More like these" (``more``) / "Less like these" on the current selection."""

    type: Literal["like"]
    more: bool


Request = (
    HelloRequest
    | ThumbsRequest
    | InfoRequest
    | RescanRequest
    | TagRequest
    | PathsRequest
    | NamesRequest
    | ReviewRequest
    | QueryImageRequest
    | LikeRequest
)

# ---------------------------------------------------------------------- kernel -> browser


class AtlasReply(TypedDict):
    """One JPEG atlas (buffer 0): rows first .. first+count-1, ``tile`` px, ``cols`` per row."""

    type: Literal["atlas"]
    version: int
    index: int
    first: int
    count: int
    tile: int
    cols: int


class _Thumbs(TypedDict):
    type: Literal["thumbs"]
    req: int
    size: int
    rows: list[int]
    failed: list[int]
    version: int


class ThumbsReply(_Thumbs, total=False):
    """Sharp thumbnails: buffer i is the JPEG of ``rows[i]``; ``failed`` rows have none."""

    busy: bool
    """The kernel was busy: ``failed`` may be asked for again."""


class InfoMeta(TypedDict):
    """What the tooltip shows of one image (names and paths ASCII-escaped)."""

    row: int
    name: str
    path: str
    folder: str  #: the file's folder named from its scan root ("emoji/apple")
    taken: str | None  #: record field "taken" (EXIF date) when known
    camera: str | None  #: record field "camera" (EXIF make and model) when known
    keywords: list[tuple[str, float | None]]
    palette: list[tuple[int, int, int]]
    width: int | None
    height: int | None
    size: int | None
    missing: bool
    unreadable: bool
    problem: str | None


class _Info(TypedDict):
    type: Literal["info"]
    row: int
    meta: InfoMeta | None
    version: int


class InfoReply(_Info, total=False):
    """Tooltip details of ``row``; buffer 0 (optional) is its JPEG; ``meta`` is null only in a
    ``busy`` answer."""

    busy: bool
    """The kernel was busy (its request queue full): no details; ``row`` may be asked again."""


class PathsReply(TypedDict):
    """The selected images' full paths, in selection order (lone surrogates escaped)."""

    type: Literal["paths"]
    paths: list[str]
    version: int


class NamesReply(TypedDict):
    """``names[i]`` is the file name of ``rows[i]`` (ASCII-escaped)."""

    type: Literal["names"]
    rows: list[int]
    names: list[str]
    version: int


class RowsReply(TypedDict):
    """An incremental refresh changed a few rows in place (same ``version``: the view keeps
    its zoom and the atlases of unchanged rows; atlases of the changed blocks follow)."""

    type: Literal["rows"]
    version: int
    rows: list[int]
    """Rows (below ``shifted``) whose image is new or changed: forget their sharp thumbnails
    and tooltip details."""
    shifted: int
    """The first renumbered row (removals move later rows up): forget everything from here."""


class MosaicsReply(TypedDict):
    """One level of the overview's tile pyramid (``thumbs.pyramid``): buffer i is mosaic i of a
    ``cols`` × ``rows`` grid of ``side``-px JPEGs, row-major. Sent after the cells it was built
    for and never after newer cells: a view drops its mosaics when the cells change."""

    type: Literal["mosaics"]
    version: int
    pyramid: int
    """Build number: the levels of one pyramid share it; a new number replaces the old levels."""
    level: int
    """0 = finest (``cell`` = the atlas tile px); each level halves the one below."""
    levels: int
    cell: float
    """Pixels per grid cell at this level."""
    width: int
    height: int
    side: int
    cols: int
    rows: int


Reply = AtlasReply | ThumbsReply | InfoReply | PathsReply | NamesReply | RowsReply | MosaicsReply

REQUESTS: dict[str, type[Any]] = {
    "hello": HelloRequest,
    "thumbs": ThumbsRequest,
    "info": InfoRequest,
    "rescan": RescanRequest,
    "tag": TagRequest,
    "paths": PathsRequest,
    "names": NamesRequest,
    "review": ReviewRequest,
    "query_image": QueryImageRequest,
    "like": LikeRequest,
}
"""Request ``type`` -> its TypedDict."""

REPLIES: dict[str, type[Any]] = {
    "atlas": AtlasReply,
    "thumbs": ThumbsReply,
    "info": InfoReply,
    "paths": PathsReply,
    "names": NamesReply,
    "rows": RowsReply,
    "mosaics": MosaicsReply,
}
"""Reply ``type`` -> its TypedDict."""

# ---------------------------------------------------------------------- validation


def _hints(td: type[Any]) -> dict[str, Any]:
    return get_type_hints(td, include_extras=True)


def _strip(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """(bare type, Annotated metadata) of a field annotation."""
    meta: tuple[Any, ...] = ()
    while get_origin(tp) is Annotated:
        meta += tp.__metadata__
        tp = get_args(tp)[0]
    return tp, meta


def shown_number(value: object) -> str:
    """``value`` for an error message: a huge number (1e308 arrives as a 309-digit int) in
    scientific notation, so the message stays one readable line."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        try:
            return f"{float(value):.3g}"
        except OverflowError:
            return f"a {len(str(abs(value)))}-digit number"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e15:
        return f"{value:.3g}"
    return repr(value) if isinstance(value, str) else str(value)


def _check(key: str, value: Any, tp: Any, meta: tuple[Any, ...]) -> Any:
    """``value`` checked against ``tp`` (the request field types: int, bool, str, lists of int
    or str, literals); integral floats become ints, as JSON numbers may arrive either way."""
    origin = get_origin(tp)
    if origin is Literal:
        if value not in get_args(tp):
            msg = f"field {key!r} must be one of {list(get_args(tp))}, got {value!r}"
            raise BadRequestError(msg)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            msg = f"field {key!r} must be true or false, got {type(value).__name__}"
            raise BadRequestError(msg)
        return value
    if tp is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"field {key!r} must be an integer, got {type(value).__name__}"
            raise BadRequestError(msg)
        for m in meta:
            if isinstance(m, Between) and not m.lo <= value <= m.hi:
                msg = f"field {key!r} must be in {m.lo}..{m.hi}, got {shown_number(value)}"
                raise BadRequestError(msg)
        return value
    if tp is str:
        cap = min((m.n for m in meta if isinstance(m, MaxLen)), default=None)
        if not isinstance(value, str) or (cap is not None and len(value) > cap):
            msg = f"field {key!r} must be a string of at most {cap} characters"
            raise BadRequestError(msg)
        return value
    if origin is list and _strip(get_args(tp)[0])[0] is str:
        cap = min((m.n for m in meta if isinstance(m, MaxLen)), default=None)
        if not isinstance(value, list) or (cap is not None and len(value) > cap):
            msg = f"field {key!r} must be a list of at most {cap} strings"
            raise BadRequestError(msg)
        inner, inner_meta = _strip(get_args(tp)[0])
        return [_check(key, v, inner, inner_meta) for v in value]
    if origin is list and get_args(tp) == (int,):
        cap = min((m.n for m in meta if isinstance(m, MaxLen)), default=None)
        if not isinstance(value, list) or (cap is not None and len(value) > cap):
            msg = f"field {key!r} must be a list of at most {cap} row numbers"
            raise BadRequestError(msg)
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int):
                msg = f"field {key!r} holds a {type(v).__name__}, expected integers"
                raise BadRequestError(msg)
        return list(value)
    msg = f"protocol: no check for field {key!r} of type {tp!r}"  # a request field type to add
    raise TypeError(msg)


def parse_request(content: object) -> Request:
    """The request ``content`` checked against its TypedDict: unknown types, missing or
    mistyped fields and out-of-range numbers raise :class:`BadRequestError` naming the field;
    unknown extra fields are dropped."""
    kind = content.get("type") if isinstance(content, dict) else None
    td = REQUESTS.get(kind) if isinstance(kind, str) else None
    if td is None or not isinstance(content, dict):
        msg = f"unknown request type {kind!r}; expected one of {sorted(REQUESTS)}"
        raise BadRequestError(msg)
    out: dict[str, Any] = {}
    for key, hint in _hints(td).items():
        tp, meta = _strip(hint)
        if key not in content and key not in td.__required_keys__:
            continue
        out[key] = _check(key, content.get(key), tp, meta)
    return out  # type: ignore[return-value]  # built field by field from the TypedDict: it is one


# ---------------------------------------------------------------------- TypeScript


def _ts(tp: Any) -> str:
    """TypeScript for a field type."""
    tp, _meta = _strip(tp)
    origin, args = get_origin(tp), get_args(tp)
    if tp is type(None):
        return "null"
    if tp in (int, float):
        return "number"
    if tp is str:
        return "string"
    if tp is bool:
        return "boolean"
    if is_typeddict(tp):
        return str(tp.__name__)
    if origin is Literal:
        return " | ".join(f'"{a}"' if isinstance(a, str) else repr(a).lower() for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(_ts(a) for a in args)
    if origin is list:
        inner = _ts(args[0])
        return f"Array<{inner}>" if "|" in inner else f"{inner}[]"
    if origin is tuple:
        return "[" + ", ".join(_ts(a) for a in args) + "]"
    msg = f"protocol: no TypeScript for {tp!r}"
    raise TypeError(msg)


def _field_docs(td: type[Any]) -> dict[str, str]:
    """Field docstrings (the string literal under a field) of ``td`` and its bases, read from
    this module's source."""
    src = Path(__file__).read_text(encoding="utf-8")
    docs: dict[str, str] = {}
    for cls in td.__mro__:
        head = re.search(rf"^class {cls.__name__}\(.*\):\n", src, flags=re.M)
        if head is None:
            continue
        body = src[head.end() :].split("\n\n\n", 1)[0]
        for name, doc in re.findall(
            r'^    (\w+): [^\n]*\n    """(.*?)"""', body, flags=re.M | re.S
        ):
            docs.setdefault(name, _doc(doc))
    return docs


def _doc(text: str) -> str:
    """A docstring as one line of JSDoc (reST ``code`` becomes Markdown `code`)."""
    return " ".join(text.replace("``", "`").split())


def _interface(td: type[Any]) -> str:
    doc = _doc(td.__doc__ or "")
    lines = [f"/** {doc} */", f"export interface {td.__name__} {{"]
    docs = _field_docs(td)
    for key, hint in _hints(td).items():
        if key in docs:
            lines.append(f"  /** {docs[key]} */")
        optional = "" if key in td.__required_keys__ else "?"
        lines.append(f"  {key}{optional}: {_ts(hint)};")
    lines.append("}")
    return "\n".join(lines)


BEGIN = "// BEGIN protocol: generated from widget/protocol.py by protocol.write_types()"
END = "// END protocol"


def typescript() -> str:
    """The protocol as TypeScript declarations (the generated block of js/types.d.ts)."""
    parts = [BEGIN]
    for td in (*REQUESTS.values(), InfoMeta, *REPLIES.values()):
        parts.append(_interface(td))
    parts.append(
        "/** A message from the browser to the kernel. */\n"
        f"export type Request = {' | '.join(t.__name__ for t in REQUESTS.values())};"
    )
    parts.append(
        "/** A message from the kernel to the browser. */\n"
        f"export type Reply = {' | '.join(t.__name__ for t in REPLIES.values())};"
    )
    parts.append(END)
    return "\n".join(parts) + "\n"


def replace_block(text: str) -> str:
    """``text`` (js/types.d.ts) with its protocol block replaced by :func:`typescript`."""
    start = text.index(BEGIN.split(":", 1)[0])
    end = text.index(END, start) + len(END) + 1
    return text[:start] + typescript() + text[end:]


def write_types(path: str | Path | None = None) -> None:
    """Regenerate the protocol block of js/types.d.ts (``path``; default: this checkout's)."""
    target = Path(path) if path else Path(__file__).resolve().parents[2] / "js" / "types.d.ts"
    target.write_text(replace_block(target.read_text(encoding="utf-8")), encoding="utf-8")
