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

/** The anywidget model as the widget uses it. */
export interface Model {
  get(key: string): any;
  set(key: string, value: unknown): void;
  save_changes(): void;
  on(event: string, fn: (...args: any[]) => void): void;
  off(event: string, fn?: (...args: any[]) => void): void;
  send(msg: Record<string, unknown>, callbacks?: unknown, buffers?: ArrayBuffer[]): void;
}

/** Tooltip details, sanitised from the kernel's "info" reply (see tooltip.js: cleanMeta). */
export interface InfoMeta {
  row: number; name: string; path: string;
  keywords: Array<[string, number | null]>;
  palette: Array<[number, number, number]>;
  width: number | null; height: number | null; size: number | null;
  missing: boolean; unreadable: boolean;
}
export interface Info { meta: InfoMeta; url: string | null }

/** One toolbar mode button: [trait value, label, tooltip]. */
export type ModeSpec = [string, string, string];

/** What the toolbar asks of the widget. */
export interface ToolbarActions {
  zoom(factor: number): void;
  fit(): void;
  clearHighlights(): void;
  /** A search was started from the toolbar: fit the view to its hits when they arrive. */
  searched?(): void;
  /** Fit the view to the current hits. */
  fitHits?(): void;
  confirm?(text: string): boolean;
}

/** Keyboard actions on the focused map. */
export type KeyAction = "zoomIn" | "zoomOut" | "fit" | "fitHits" | "clear";
