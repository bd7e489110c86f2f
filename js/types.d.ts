// Shared shapes for the JSDoc types of js/*.js (checked by `npm run typecheck`; never bundled).

/** Screen = world × scale + (tx, ty); world units are grid cells. */
export interface View { scale: number; tx: number; ty: number }
/** An integer grid cell (row r, column c); may lie outside the grid. */
export interface Cell { r: number; c: number }
/** Inclusive cell range. */
export interface CellRange { r0: number; c0: number; r1: number; c1: number }
/** A screen square (x, y, side s) in CSS px. */
export interface Rect { x: number; y: number; s: number }
/** Zoom bounds, in CSS px per cell. */
export interface ZoomLimits { min: number; max: number }
/** A box being dragged, in stage px. */
export interface Box { x0: number; y0: number; x1: number; y1: number }

export interface Theme {
  bg: string; fg: string; accent: string; onAccent: string; select: string; ring: string;
  dim: string; boxFill: string;
}

export interface Neighbour { row: number; rank: number; score: number }
export interface Hover { row: number; nbrs: Neighbour[] }

/** A point in stage px. */
export interface Point { x: number; y: number }
/** The stage's size in CSS px. */
export interface Size { w: number; h: number }

/** The widget's shared state (js/store.js); each field has one module that sets it. */
export interface MapState {
  /** view.js: the current pan/zoom. */
  view: View;
  /** view.js: the view follows the stage size and grid until the user zooms or pans. */
  autoFit: boolean;
  /** view.js: the view shows the search hits (⤢ again shows the whole map). */
  fittedHits: boolean;
  /** view.js: a search was started here: fit the view to its hits when they arrive. */
  pendingFit: boolean;
  /** overlay.js: selected rows (trait `selected`). */
  selected: Set<number>;
  /** overlay.js: highlighted rows in rank order (trait `highlighted`). */
  highlighted: number[];
  /** overlay.js: the Shift+Hovered row and its neighbours. */
  hover: Hover | null;
  /** input.js: the row under the pointer (-1: none). */
  pointed: number;
  /** input.js: the pointer in stage px (null: outside). */
  pointer: Point | null;
  /** input.js: the selection box being dragged. */
  box: Box | null;
  /** input.js: the lasso being drawn, in stage px (null: none). */
  lasso: Point[] | null;
  /** selectbar.js: the shape a selecting drag draws (toolbar toggle). */
  selectShape: "box" | "lasso";
  /** nbpanel.js: the rows the neighbour panel shows (hovered first; null: closed). */
  panel: Hover | null;
  /** input.js: a press is being dragged (pan or box). */
  dragging: boolean;
  /** mapdata.js: the library version the kernel's messages must match (`_data_version`). */
  version: number;
  /** widget.js: the page's colours. */
  theme: Theme;
  /** paint.js: device px per CSS px. */
  dpr: number;
  /** widget.js: sharp thumbnail sizes the kernel cuts (trait `_sharp_sizes`), ascending. */
  sharpSizes: number[];
}

/** A region label of the `labels` trait (js/labels.js; x/y in grid cells). */
export interface MapLabel { text: string; x: number; y: number; level: number; row: number; score: number }

/** The anywidget model as the widget uses it. */
export interface Model {
  get(key: string): any;
  set(key: string, value: unknown): void;
  save_changes(): void;
  on(event: string, fn: (...args: any[]) => void): void;
  off(event: string, fn?: (...args: any[]) => void): void;
  send(msg: Request, callbacks?: unknown, buffers?: ArrayBuffer[]): void;
}

/** Tooltip details, sanitised from the kernel's "info" reply (see tooltip.js: cleanMeta). */
export interface TipMeta {
  row: number; name: string; path: string;
  /** The folder named from its scan root ("emoji/apple"); "" when unknown. */
  folder: string;
  /** "2023-06-01 14:02" and "Canon EOS 5D" when the record knows them, else "". */
  taken: string; camera: string;
  keywords: Array<[string, number | null]>;
  palette: Array<[number, number, number]>;
  width: number | null; height: number | null; size: number | null;
  missing: boolean; unreadable: boolean;
}
export interface Info { meta: TipMeta; url: string | null }

/** One toolbar mode button: [trait value, label, tooltip]. */
export type ModeSpec = [string, string, string];

/** What the toolbar asks of the widget. */
export interface ToolbarActions {
  zoom(factor: number): void;
  /** ⟳: ask the kernel to rescan (`force`: re-embed everything). */
  rescan(force: boolean): void;
  fit(): void;
  clearHighlights(): void;
  /** A search was started from the toolbar: fit the view to its hits when they arrive. */
  searched?(): void;
  /** Fit the view to the current hits. */
  fitHits?(): void;
  /** Give the keyboard focus back to the map (after Enter/Esc in the search box). */
  focusMap?(): void;
  /** Zoom to actual size (1:1). */
  actualSize?(): void;
  confirm?(text: string): boolean;
}

/** Keyboard actions on the focused map. */
export type KeyAction = "zoomIn" | "zoomOut" | "fit" | "actual" | "fitHits" | "clear";

// ---------------------------------------------------------------- kernel <-> browser messages
// Defined once in Python (vectorvision_widget/widget/protocol.py); tests/test_protocol.py fails
// when this block differs from what the generator writes.
// BEGIN protocol: generated from widget/protocol.py by protocol.write_types()
/** A view rendered: send the overview's mosaics and the atlases built so far. */
export interface HelloRequest {
  type: "hello";
}
/** Sharper thumbnails for the visible cells of a zoomed-in view. */
export interface ThumbsRequest {
  type: "thumbs";
  /** Library rows; rows of an older library version are skipped. */
  rows: number[];
  /** Wanted tile px; the kernel answers with the nearest of `_sharp_sizes`. */
  size: number;
  /** Request number, echoed in the reply. */
  req: number;
}
/** Tooltip details of one row. */
export interface InfoRequest {
  type: "info";
  row: number;
}
/** The ⟳ button: rescan the library's folders (`force`: re-embed everything). */
export interface RescanRequest {
  type: "rescan";
  force?: boolean;
}
/** Tag (or with `remove`, untag) the selected images: `lib.tag(w.selected, *names)`. */
export interface TagRequest {
  type: "tag";
  names: string[];
  remove?: boolean;
}
/** The paths of the selected images (for the clipboard). */
export interface PathsRequest {
  type: "paths";
}
/** File names of some rows (the neighbour panel's captions). */
export interface NamesRequest {
  type: "names";
  rows: number[];
}
/** Open the duplicate review: find the groups (`lib.duplicates()`) in the background. */
export interface ReviewRequest {
  type: "review";
}
/** An image file dropped or pasted on the map (buffer 0: its bytes): highlight the images most like it, as `w.query_image` does. */
export interface QueryImageRequest {
  type: "query_image";
  /** The file's name (shown in the hit count). */
  name: string;
  /** Bytes in buffer 0 (checked against the buffer). */
  size: number;
  space: "visual" | "semantic" | "hybrid";
}
/** "More like these" (`more`) / "Less like these" on the current selection. */
export interface LikeRequest {
  type: "like";
  more: boolean;
}
/** What the tooltip shows of one image (names and paths ASCII-escaped). */
export interface InfoMeta {
  row: number;
  name: string;
  path: string;
  folder: string;
  taken: string | null;
  camera: string | null;
  keywords: Array<[string, number | null]>;
  palette: [number, number, number][];
  width: number | null;
  height: number | null;
  size: number | null;
  missing: boolean;
  unreadable: boolean;
  problem: string | null;
}
/** One JPEG atlas (buffer 0): rows first .. first+count-1, `tile` px, `cols` per row. */
export interface AtlasReply {
  type: "atlas";
  version: number;
  index: number;
  first: number;
  count: number;
  tile: number;
  cols: number;
}
/** Sharp thumbnails: buffer i is the JPEG of `rows[i]`; `failed` rows have none. */
export interface ThumbsReply {
  type: "thumbs";
  req: number;
  size: number;
  rows: number[];
  failed: number[];
  version: number;
  /** The kernel was busy: `failed` may be asked for again. */
  busy?: boolean;
}
/** Tooltip details of `row`; buffer 0 (optional) is its JPEG; `meta` is null only in a `busy` answer. */
export interface InfoReply {
  type: "info";
  row: number;
  meta: InfoMeta | null;
  version: number;
  /** The kernel was busy (its request queue full): no details; `row` may be asked again. */
  busy?: boolean;
}
/** The selected images' full paths, in selection order (lone surrogates escaped). */
export interface PathsReply {
  type: "paths";
  paths: string[];
  version: number;
}
/** `names[i]` is the file name of `rows[i]` (ASCII-escaped). */
export interface NamesReply {
  type: "names";
  rows: number[];
  names: string[];
  version: number;
}
/** An incremental refresh changed a few rows in place (same `version`: the view keeps its zoom and the atlases of unchanged rows; atlases of the changed blocks follow). */
export interface RowsReply {
  type: "rows";
  version: number;
  /** Rows (below `shifted`) whose image is new or changed: forget their sharp thumbnails and tooltip details. */
  rows: number[];
  /** The first renumbered row (removals move later rows up): forget everything from here. */
  shifted: number;
}
/** One level of the overview's tile pyramid (`thumbs.pyramid`): buffer i is mosaic i of a `cols` × `rows` grid of `side`-px JPEGs, row-major. Sent after the cells it was built for and never after newer cells: a view drops its mosaics when the cells change. */
export interface MosaicsReply {
  type: "mosaics";
  version: number;
  /** Build number: the levels of one pyramid share it; a new number replaces the old levels. */
  pyramid: number;
  /** 0 = finest (`cell` = the atlas tile px); each level halves the one below. */
  level: number;
  levels: number;
  /** Pixels per grid cell at this level. */
  cell: number;
  width: number;
  height: number;
  side: number;
  cols: number;
  rows: number;
}
/** A message from the browser to the kernel. */
export type Request = HelloRequest | ThumbsRequest | InfoRequest | RescanRequest | TagRequest | PathsRequest | NamesRequest | ReviewRequest | QueryImageRequest | LikeRequest;
/** A message from the kernel to the browser. */
export type Reply = AtlasReply | ThumbsReply | InfoReply | PathsReply | NamesReply | RowsReply | MosaicsReply;
// END protocol
