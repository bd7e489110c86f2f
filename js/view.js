// Zoom and pan maths. World units are grid cells: cell (r, c) spans [c, c+1) × [r, r+1).
// screen = world * scale + (tx, ty), in CSS pixels of the canvas.

export const MIN_CELL_PX = 0.5;
export const MAX_CELL_PX = 512;

/** View that fits a rows × cols grid centred in a w × h canvas with `pad` px margin. */
export function fitView(rows, cols, w, h, pad = 8) {
  const scale = Math.max(
    Math.min((w - 2 * pad) / Math.max(cols, 1), (h - 2 * pad) / Math.max(rows, 1)),
    1e-3,
  );
  return { scale, tx: (w - cols * scale) / 2, ty: (h - rows * scale) / 2 };
}

/** Zoom by `factor` keeping the screen point (sx, sy) fixed; scale clamped to [min, max]. */
export function zoomAt(view, factor, sx, sy, min = MIN_CELL_PX, max = MAX_CELL_PX) {
  const scale = Math.min(max, Math.max(min, view.scale * factor));
  const k = scale / view.scale;
  return { scale, tx: sx - (sx - view.tx) * k, ty: sy - (sy - view.ty) * k };
}

export function panBy(view, dx, dy) {
  return { scale: view.scale, tx: view.tx + dx, ty: view.ty + dy };
}

/** Screen point -> integer cell {r, c} (may lie outside the grid). */
export function screenToCell(view, sx, sy) {
  return { r: Math.floor((sy - view.ty) / view.scale), c: Math.floor((sx - view.tx) / view.scale) };
}

/** Top-left screen position of cell (r, c). */
export function cellToScreen(view, r, c) {
  return { x: c * view.scale + view.tx, y: r * view.scale + view.ty };
}

/** Inclusive range of grid cells visible in a w × h canvas, clamped to the grid. */
export function visibleCells(view, w, h, rows, cols) {
  const a = screenToCell(view, 0, 0);
  const b = screenToCell(view, w - 1e-6, h - 1e-6);
  return {
    r0: Math.max(0, a.r), c0: Math.max(0, a.c),
    r1: Math.min(rows - 1, b.r), c1: Math.min(cols - 1, b.c),
  };
}
