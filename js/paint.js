// Drawing: the two canvases (base map, overlay), their size and device pixel ratio, and one
// frame at a time. The base is redrawn on the next animation frame when the view, theme or
// tiles change; the overlay (selection, hits, Shift+Hover, box) at once, so Shift+Hover costs
// O(k). `data-view` on the base canvas is the current view as soon as it changes (tests and
// benchmarks read it right after an event), `data-ready` says whether the map has images.

import { record } from "./debug.js";
import { drawOverlay } from "./overlay.js";

/** @typedef {import("./types").MapState} MapState @typedef {import("./types").Size} Size */
/** @typedef {import("./store").Store<MapState>} MapStore */
/** @typedef {import("./grid").GridRenderer} GridRenderer @typedef {import("./debug").Stats} Stats */

/**
 * The stage's size; a stage that is briefly 0 wide (a theme's CSS being swapped) keeps its last
 * width, so no 600-px map is drawn that no resize event would ever redraw.
 * @param {HTMLElement} stage @param {() => number} height the height trait (before layout)
 * @returns {() => Size}
 */
export function stageSize(stage, height) {
  let lastW = 0;
  return () => ({ w: (lastW = stage.clientWidth || lastW) || 600, h: stage.clientHeight || height() });
}

/**
 * @param {{store: MapStore, grid: GridRenderer, base: HTMLCanvasElement, over: HTMLCanvasElement,
 *   size: () => Size, stats: Stats | null, drawn: () => void}} deps drawn: after each frame
 */
export function createPainter({ store, grid, base, over, size, stats, drawn }) {
  let frame = 0, baseDirty = true;

  /** Redraw on the next frame (`full`: the base map too). */
  function requestDraw(full = false) {
    baseDirty = baseDirty || full;
    if (!frame) frame = requestAnimationFrame(drawNow);
  }

  function drawNow() {
    if (frame) cancelAnimationFrame(frame);
    frame = 0;
    const { view, dpr, theme } = store.get();
    const { w, h } = size();
    const t0 = performance.now();
    let again = false;
    if (baseDirty) {
      const ctx = /** @type {CanvasRenderingContext2D} */ (base.getContext("2d"));
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      again = grid.draw(ctx, view, w, h, dpr, theme);
      baseDirty = again;
      record(stats, "drawMs", performance.now() - t0);
      if (stats && stats.firstMosaicFrame === null && grid.lastDraw.complete) {
        stats.firstMosaicFrame = performance.now();
      }
    }
    drawOverlayNow();
    base.dataset.ready = grid.n ? "1" : "0";
    if (again) requestDraw(true);
    drawn();
  }

  function drawOverlayNow() {
    const t0 = performance.now();
    const st = store.get();
    const { w, h } = size();
    const ctx = /** @type {CanvasRenderingContext2D} */ (over.getContext("2d"));
    ctx.setTransform(st.dpr, 0, 0, st.dpr, 0, 0);
    drawOverlay(ctx, {
      view: st.view, w, h, theme: st.theme, cells: grid.cells, selected: st.selected,
      highlighted: st.highlighted, hover: st.hover, box: st.box, lasso: st.lasso, pointed: st.pointed,
      drawTile: (c, row, x, y, s) => grid.drawTile(c, row, x, y, s, st.dpr),
    });
    over.dataset.hovered = st.hover ? String(st.hover.row) : "";
    record(stats, "overlayMs", performance.now() - t0);
  }

  /** Size both canvases to the stage at the current device pixel ratio. */
  function resize() {
    const { w, h } = size();
    const dpr = window.devicePixelRatio || 1;
    for (const c of [base, over]) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    store.set({ dpr });
    requestDraw(true);
  }

  const showView = () => {
    const { view } = store.get();
    base.dataset.view = `${view.scale},${view.tx},${view.ty}`;
    requestDraw(true);
  };
  const unwatch = [
    store.watch(["view", "theme", "dpr"], showView),
    store.watch(["selected", "highlighted", "hover", "box", "lasso", "pointed"], drawOverlayNow),
  ];
  showView();

  return {
    requestDraw, drawNow, drawOverlay: drawOverlayNow, resize,
    dispose() {
      unwatch.forEach((u) => u());
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
    },
  };
}
