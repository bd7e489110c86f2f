// VectorVision widget lifecycle: build the DOM, create the state store and the modules that each
// own one thing, wire the model's traits to them, and return the cleanup.
//   store.js     the shared state (types.d.ts: MapState)
//   view.js      pan and zoom            input.js    mouse and keyboard
//   overlay.js   selection, highlights and Shift+Hover (drawn on their own canvas)
//   paint.js     the canvases and frames grid.js     the tiles of the base map
//   requests.js  kernel messages         toolbar.js  the controls above the map
//   tooltip.js   image details           mapdata.js  cells and colours from the traits
//   selectbar.js box/lasso, count, tag, copy paths    nbpanel.js  Shift+Hover neighbours, large
//   dupreview.js the duplicate review    lasso.js    lasso hit-testing
import { GridRenderer } from "./grid.js";
import { rowAt, rowsInBox } from "./hit.js";
import { bindInput } from "./input.js";
import { rowsInLasso, toWorld } from "./lasso.js";
import { duplicateReview } from "./dupreview.js";
import { neighbourPanel } from "./nbpanel.js";
import { buildSelectBar } from "./selectbar.js";
import { loadCells } from "./mapdata.js";
import { marks } from "./overlay.js";
import { createPainter, stageSize } from "./paint.js";
import { kernelRequests, readSizes } from "./requests.js";
import { Store } from "./store.js";
import { buildToolbar } from "./toolbar.js";
import { buildTooltip, tooltipFlow } from "./tooltip.js";
import { THEME_ATTRIBUTES, hostTheme } from "./theme.js";
import { debugEnabled, makeStats } from "./debug.js";
import { bindDrop } from "./drop.js";
import { buildFilterBar } from "./filterbar.js";
import { labelsLayer } from "./labels.js";
import { screenToCell, viewControl, zoomPercent } from "./view.js";

const EMPTY = "This library is empty. Scan a folder with vv.scan(folder, lib, encoders=enc), then w.refresh().";

/** @typedef {import("./types").MapState} MapState @typedef {import("./types").Point} Point */

/** @type {<K extends keyof HTMLElementTagNameMap>(tag: K, className: string) => HTMLElementTagNameMap[K]} */
const make = (tag, className) => Object.assign(document.createElement(tag), { className });

/** @param {{model: import("./types").Model, el: HTMLElement}} ctx @returns {() => void} */
function render({ model, el }) {
  const root = make("div", "vv-root");
  const banner = make("div", "vv-banner");
  const errorLine = make("div", "vv-error");
  const stage = make("div", "vv-stage");
  stage.tabIndex = 0;
  stage.dataset.lmSuppressShortcuts = "true"; // map keys are not JupyterLab shortcuts
  const base = make("canvas", "vv-base");
  const over = make("canvas", "vv-overlay");
  const empty = make("div", "vv-empty");
  empty.textContent = EMPTY;
  const tip = buildTooltip((hex) => toolbar.colourSearch(hex));

  const grid = new GridRenderer();
  const store = new Store(/** @type {MapState} */ ({
    view: { scale: 1, tx: 0, ty: 0 }, autoFit: true, fittedHits: false, pendingFit: false,
    selected: new Set(model.get("selected")), highlighted: model.get("highlighted"), hover: null,
    pointed: -1, pointer: null, box: null, lasso: null, selectShape: "box", panel: null, dragging: false, version: model.get("_data_version"),
    theme: hostTheme(el), dpr: window.devicePixelRatio || 1, sharpSizes: readSizes(model.get("_sharp_sizes")),
  }));
  const stats = makeStats();
  const size = stageSize(stage, () => model.get("height"));
  const view = viewControl({ store, grid, size });
  const overlay = marks({ model, store, stats });
  const painter = createPainter({ store, grid, base, over, size, stats, drawn: () => {
    kernel.scheduleSharp();
    panel.redraw();
    review.redraw();
  } });
  const tips = tooltipFlow(tip, { // details cached per row (object URLs revoked on clear)
    request: (row) => kernel.info(row),
    anchor: (row) => {
      const { pointer, pointed, hover, dragging } = store.get();
      return pointer && pointed === row && !hover && !dragging ? { ...pointer, bounds: size() } : null;
    },
  });
  const kernel = kernelRequests({ model, store, grid, size, tips, stats, redraw: () => painter.requestDraw(true) });
  const toolbar = buildToolbar(model, {
    zoom: (f) => view.zoomCentre(f),
    fit: () => view.fitToggle(),
    fitHits: () => view.fitHits(),
    searched: () => store.set({ pendingFit: true }),
    clearHighlights: () => overlay.clearHighlights(),
    rescan: (force) => kernel.rescan(force),
    focusMap: () => stage.focus({ preventScroll: true }),
    actualSize: () => view.actualSize(),
  });
  const selectBar = buildSelectBar({ model, store, select: (rows) => overlay.select(rows) });
  const panel = neighbourPanel({ model, store, grid, size, view });
  const review = duplicateReview({ model, store, grid });
  toolbar.el.append(selectBar.el, review.button);
  stage.append(base, over, empty, tip.el, review.el);
  const filterBar = buildFilterBar({ model, stage, before: over, store, size, grid, send: (m) => model.send(m) });
  // the labels go under the overlay (rings, dimming and the lasso stay on top of them)
  const labelLayer = labelsLayer({ model, stage, before: over, store, size, grid });
  const unbindDrop = bindDrop(stage, { model, notify: filterBar.note });
  root.append(toolbar.el, filterBar.el, banner, errorLine, stage, panel.el);
  el.append(root);

  /** @param {Point} p */
  const rowUnder = (p) => {
    const { r, c } = screenToCell(store.get().view, p.x, p.y);
    return rowAt(grid.index, grid.rows, grid.cols, r, c);
  };
  const unbindInput = bindInput(stage, window, {
    store, view, marks: overlay, rowUnder, tips,
    rowsInBox: (a, b) => {
      const v = store.get().view;
      return rowsInBox(grid.index, grid.rows, grid.cols, screenToCell(v, a.x, a.y), screenToCell(v, b.x, b.y));
    },
    rowsInLasso: (path) => rowsInLasso(grid.index, grid.rows, grid.cols, toWorld(path, store.get().view)),
    onTooltip: (target) => tip.contains(target),
    hideTooltip: () => tip.hide(),
  });
  const unwatchHover = store.watch(["hover"], () => tip.hide());
  const showZoom = () => toolbar.setZoom(zoomPercent(store.get().view.scale, store.get().dpr, view.sharpest()));
  const unwatchZoom = store.watch(["view", "sharpSizes", "dpr"], showZoom);
  if (debugEnabled()) {
    Object.assign(root, { __vv: { stats, store, grid, get view() { return store.get().view; },
      setView: view.setView, drawNow: painter.drawNow, limits: view.limits } });
  }

  function resize() {
    painter.resize();
    if (store.get().autoFit) view.fit();
  }

  function cellsChanged() {
    const { n, newGrid } = loadCells(model, grid);
    empty.style.display = n ? "none" : "";
    if (store.get().autoFit || newGrid) view.fit();
    painter.requestDraw(true);
    filterBar.cellsChanged();
    labelLayer.request();
  }

  function versionChanged() {
    const version = model.get("_data_version");
    if (version === store.get().version) return;
    grid.reset();
    tips.clear();
    kernel.reset();
    store.set({ version, autoFit: true });
  }

  function syncBanner() {
    const text = model.get("banner");
    banner.textContent = text ? `⚠ ${text}` : "";
    banner.style.display = text ? "" : "none";
    const err = model.get("error");
    errorLine.textContent = err;
    errorLine.style.display = err ? "" : "none";
  }

  /** @type {Record<string, () => void>} */
  const handlers = {
    "change:_cells": cellsChanged,
    "change:_grid": cellsChanged,
    "change:_colours": cellsChanged,
    "change:_table": overlay.tableChanged,
    "change:_data_version": versionChanged,
    "change:_sharp_sizes": () => store.set({ sharpSizes: readSizes(model.get("_sharp_sizes")) }),
    "change:banner": syncBanner,
    "change:error": syncBanner,
    "change:selected": overlay.selectedChanged,
    "change:highlighted": () => {
      overlay.highlightedChanged();
      view.hitsArrived();
      toolbar.sync();
    },
    "change:hovered": overlay.hoveredChanged,
    "change:k": () => { overlay.rehover(); toolbar.sync(); },
    "change:height": () => { stage.style.height = `${model.get("height")}px`; resize(); },
  };
  for (const t of ["colour_query", "_modes", "status", "mode", "hybrid_weight", "query", "progress", "_can_rescan", "search_total", "_hit_what", "search_k"]) {
    handlers[`change:${t}`] = toolbar.sync;
  }
  for (const [ev, fn] of Object.entries(handlers)) model.on(ev, fn);
  stage.style.height = `${model.get("height")}px`;
  const ro = new ResizeObserver(() => resize());
  ro.observe(stage);
  const mo = new MutationObserver(() => store.set({ theme: hostTheme(el) }));
  if (document.body) mo.observe(document.body, { attributes: true, attributeFilter: THEME_ATTRIBUTES });

  toolbar.sync();
  syncBanner();
  cellsChanged();
  resize();
  showZoom();
  kernel.hello();

  return () => {
    for (const [ev, fn] of Object.entries(handlers)) model.off(ev, fn);
    unbindInput();
    unbindDrop();
    filterBar.dispose();
    labelLayer.dispose();
    unwatchHover();
    unwatchZoom();
    ro.disconnect();
    mo.disconnect();
    kernel.dispose();
    selectBar.dispose();
    panel.dispose();
    review.dispose();
    painter.dispose();
    tips.dispose();
    grid.reset();
    store.clear();
  };
}

export default { render };
