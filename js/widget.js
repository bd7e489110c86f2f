// VectorVision widget lifecycle: model <-> renderer wiring, input handling, requests.
import { fromWire, jpegBlob } from "./codecs.js";
import { GridRenderer } from "./grid.js";
import { rowAt, rowsInBox } from "./hit.js";
import { applySelection, drawOverlay, neighboursOf } from "./overlay.js";
import { buildToolbar } from "./toolbar.js";
import { buildTooltip, tooltipFlow } from "./tooltip.js";
import { readTheme } from "./theme.js";
import { debugEnabled, makeStats, record } from "./debug.js";
import { bindKeys, shiftHover, wheelFactor, ZOOM_STEP } from "./input.js";
import { fitRows, fitView, panBy, screenToCell, zoomAt, zoomLimits } from "./view.js";

const DRAG_PX = 4;
const SHARP_MIN_CELL_PX = 24; // and only once atlas tiles would be upscaled

/** @typedef {import("./types").View} View @typedef {import("./types").Hover} Hover */
/** @typedef {import("./types").Box} Box */
/** @typedef {{x: number, y: number}} Point */

/** @param {{model: import("./types").Model, el: HTMLElement}} ctx */
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "vv-root";
  const toolbar = buildToolbar(model, {
    zoom: (f) => { const s = size(); zoomBy(f, s.w / 2, s.h / 2); },
    fit: () => (highlighted.length && !fittedHits ? fitHits() : fit()),
    fitHits: () => fitHits(),
    searched: () => { pendingFit = true; },
    clearHighlights: () => clearHighlights(),
  });
  /** @type {<K extends keyof HTMLElementTagNameMap>(tag: K, className: string) => HTMLElementTagNameMap[K]} */
  const make = (tag, className) => Object.assign(document.createElement(tag), { className });
  const banner = make("div", "vv-banner");
  const errorLine = make("div", "vv-error");
  const stage = make("div", "vv-stage");
  stage.tabIndex = 0;
  stage.dataset.lmSuppressShortcuts = "true"; // map keys are not JupyterLab shortcuts
  const base = make("canvas", "vv-base");
  const over = make("canvas", "vv-overlay");
  const empty = make("div", "vv-empty");
  empty.textContent = "This library is empty. Scan a folder with vv.scan(folder, lib, encoders=enc), then w.refresh().";
  const tip = buildTooltip((hex) => toolbar.colourSearch(hex));
  stage.append(base, over, empty, tip.el);
  root.append(toolbar.el, banner, errorLine, stage);
  el.append(root);

  const grid = new GridRenderer();
  let theme = readTheme(el);
  let view = { scale: 1, tx: 0, ty: 0 };
  let autoFit = true; // the view follows the stage size and grid until the user zooms or pans
  let dpr = window.devicePixelRatio || 1;
  let nbrIdx = new Int32Array(0), nbrScores = new Float32Array(0), nbrK = 0;
  let selected = new Set(model.get("selected"));
  let highlighted = model.get("highlighted");
  /** @type {Hover | null} */
  let hover = null; // {row, nbrs}
  let lastSentHover = model.get("hovered");
  let pointed = -1;
  /** @type {Point | null} */
  let pointer = null; // last pointer position in stage px
  let shiftDown = false;
  /** @type {Box | null} */
  let box = null;
  /** @type {{x0: number, y0: number, view: View, moved: boolean, box: boolean, add: boolean} | null} */
  let drag = null;
  let frame = 0, baseDirty = true;
  let version = model.get("_data_version");
  const tips = tooltipFlow(tip, { // details cached per row (object URLs revoked on clear)
    request: (row) => model.send({ type: "info", row }),
    anchor: (row) => (pointer && pointed === row && !hover && !drag ? { ...pointer, bounds: size() } : null),
  });
  let sharpTimer = 0, reqId = 0;
  const pendingSharp = new Set();
  let pendingFit = false; // a search was started here: fit the view to its hits when they arrive
  let fittedHits = false; // the view shows the hits (⤢ again shows the whole map)
  let disposed = false; // bitmaps decoded after teardown are dropped
  const stats = makeStats();
  if (debugEnabled()) {
    Object.assign(root, { __vv: { stats, get view() { return view; }, grid, setView: (/** @type {View} */ v) => setView(v),
      drawNow: () => drawNow(), limits: () => limits() } });
  }

  let lastW = 0; // the stage's last laid-out width: a draw while it is briefly 0 (a theme's CSS
  // being swapped) must not draw a 600-px map that no resize event would ever redraw
  const size = () => ({ w: (lastW = stage.clientWidth || lastW) || 600, h: stage.clientHeight || model.get("height") });

  function resize() {
    const { w, h } = size();
    dpr = window.devicePixelRatio || 1;
    for (const c of [base, over]) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    if (autoFit) fit(); else requestDraw(true);
  }

  function fit() {
    const { w, h } = size();
    view = fitView(grid.rows, grid.cols, w, h);
    autoFit = true;
    fittedHits = false;
    requestDraw(true);
  }

  /** @param {View} v */
  function setView(v) {
    view = v;
    autoFit = false;
    fittedHits = false;
    requestDraw(true);
  }

  /** Zoom bounds: the whole map .. a cell at 2× its sharpest thumbnail. */
  function limits() {
    const { w, h } = size();
    return zoomLimits(grid.rows, grid.cols, w, h, dpr);
  }

  /** @param {number} f @param {number} x @param {number} y */
  function zoomBy(f, x, y) {
    const lim = limits();
    setView(zoomAt(view, f, x, y, lim.min, lim.max));
  }

  function fitHits() {
    const { w, h } = size();
    const v = fitRows(grid.cells, highlighted, w, h, limits());
    if (!v) return;
    setView(v);
    fittedHits = true;
  }

  function requestDraw(full = false) {
    baseDirty = baseDirty || full;
    if (!frame) frame = requestAnimationFrame(drawNow);
  }

  function drawNow() {
    if (frame) cancelAnimationFrame(frame);
    frame = 0;
    const { w, h } = size();
    const t0 = performance.now();
    let again = false;
    if (baseDirty) {
      const ctx = /** @type {CanvasRenderingContext2D} */ (base.getContext("2d"));
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      again = grid.draw(ctx, view, w, h, dpr, theme);
      baseDirty = again;
      record(stats, "drawMs", performance.now() - t0);
    }
    drawOverlayNow();
    base.dataset.view = `${view.scale},${view.tx},${view.ty}`;
    base.dataset.ready = grid.n ? "1" : "0";
    if (again) requestDraw(true);
    scheduleSharp();
  }

  function drawOverlayNow() {
    const t0 = performance.now();
    const { w, h } = size();
    const ctx = /** @type {CanvasRenderingContext2D} */ (over.getContext("2d"));
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawOverlay(ctx, {
      view, w, h, theme, cells: grid.cells, selected, highlighted, hover, box, pointed,
      drawTile: (c, row, x, y, s) => grid.drawTile(c, row, x, y, s, dpr),
    });
    record(stats, "overlayMs", performance.now() - t0);
  }

  // ---------------------------------------------------------------- model -> view
  function loadCells() {
    const wire = fromWire(model.get("_cells")); // {data, shape}: N comes with the bytes
    const n = wire.shape.length === 2 && wire.shape[1] === 2 ? wire.shape[0] : 0;
    const [rows, cols] = model.get("_grid");
    const cells = Int32Array.from(wire.data.subarray(0, 2 * n));
    const newGrid = grid.rows !== Math.max(rows, 1) || grid.cols !== Math.max(cols, 1);
    grid.setCells(cells, n, rows, cols, Uint8Array.from(fromWire(model.get("_colours")).data));
    empty.style.display = n ? "none" : "";
    if (autoFit || newGrid) fit();
    requestDraw(true);
  }

  function loadTable() {
    const table = model.get("_table") || {};
    const idx = fromWire(table.idx), scores = fromWire(table.scores);
    const ok = idx.shape.length === 2 && idx.data instanceof Int32Array && scores.data instanceof Float32Array
      && scores.data.length === idx.data.length;
    nbrIdx = ok ? /** @type {Int32Array<ArrayBuffer>} */ (idx.data) : new Int32Array(0);
    nbrScores = ok ? /** @type {Float32Array<ArrayBuffer>} */ (scores.data) : new Float32Array(0);
    nbrK = ok ? idx.shape[1] : 0;
    if (hover) setHover(hover.row, false);
  }

  function onVersion() {
    const v = model.get("_data_version");
    if (v === version) return;
    version = v;
    grid.reset();
    tips.clear();
    pendingSharp.clear();
    autoFit = true;
  }

  /**
   * Decode JPEG bytes off the main thread; a failure is counted, a late result dropped.
   * @param {DataView} buf @param {{version?: number}} msg @param {(bmp: ImageBitmap) => void} use
   */
  function decode(buf, msg, use) {
    createImageBitmap(jpegBlob(buf)).then((bmp) => {
      if (disposed || msg.version !== version) return bmp.close();
      use(bmp);
    }, () => { if (stats) stats.bitmapErrors += 1; });
  }

  function syncBanner() {
    const text = model.get("banner");
    banner.textContent = text ? `⚠ ${text}` : "";
    banner.style.display = text ? "" : "none";
    const err = model.get("error");
    errorLine.textContent = err;
    errorLine.style.display = err ? "" : "none";
  }

  /** @param {any} msg a kernel message @param {DataView[]} buffers */
  function onCustom(msg, buffers) {
    if (!msg || msg.version !== undefined && msg.version !== version) return;
    if (msg.type === "atlas") {
      decode(buffers[0], msg, (bmp) => {
        grid.addAtlas(msg, bmp);
        requestDraw(true);
        if (!stats) return;
        stats.atlasCount += 1;
        if (stats.firstFullRender === null && grid.atlases.filter(Boolean).length * grid.perAtlas >= grid.n) {
          requestAnimationFrame(() => { stats.firstFullRender = performance.now(); });
        }
      });
    } else if (msg.type === "thumbs") {
      // failed rows stay pending (no retry storm on a broken file) unless the kernel was busy
      if (msg.busy) (msg.failed || []).forEach((/** @type {number} */ row) => pendingSharp.delete(row));
      msg.rows.forEach((/** @type {number} */ row, /** @type {number} */ i) => {
        pendingSharp.delete(row);
        decode(buffers[i], msg, (bmp) => {
          grid.addSharp(row, msg.size, bmp);
          requestDraw(true);
        });
      });
    } else if (msg.type === "info") {
      if (disposed) return;
      tips.arrived(msg.row, msg.meta, buffers.length ? jpegBlob(buffers[0]) : null);
    }
  }

  // ---------------------------------------------------------------- hover / selection
  /** @param {number | null | undefined} row @param {boolean} [sync] @param {Event | null} [event] */
  function setHover(row, sync = true, event = null) {
    const tWork = performance.now();
    const t0 = event ? Math.min(event.timeStamp, tWork) : tWork;
    if (row === undefined || row === null || row < 0) {
      if (!hover) return;
      hover = null;
    } else {
      hover = { row, nbrs: neighboursOf(nbrIdx, nbrScores, nbrK, row, model.get("k")) };
    }
    tip.hide();
    drawOverlayNow();
    const tEnd = performance.now();
    record(stats, "hoverMs", tEnd - t0);
    record(stats, "hoverWorkMs", tEnd - tWork);
    over.dataset.hovered = hover ? String(hover.row) : "";
    if (sync) {
      const value = hover ? hover.row : null;
      if (value !== lastSentHover) {
        lastSentHover = value;
        model.set("hovered", value);
        model.save_changes();
      }
    }
  }

  /** @param {Point} p */
  function rowUnder(p) {
    const { r, c } = screenToCell(view, p.x, p.y);
    return rowAt(grid.index, grid.rows, grid.cols, r, c);
  }

  /** @param {MouseEvent} e @returns {Point} */
  function local(e) {
    const r = stage.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  /** @param {number[]} rows */
  function saveSelection(rows) {
    selected = new Set(rows);
    model.set("selected", [...selected]);
    model.save_changes();
    drawOverlayNow();
  }

  function clearHighlights() {
    highlighted = [];
    model.set("query", "");
    model.set("colour_query", "");
    model.set("highlighted", []);
    model.save_changes();
    drawOverlayNow();
  }

  /** @param {PointerEvent} e */
  function onPointerMove(e) {
    if (!drag && tip.contains(e.target)) { // on the tooltip: keep it (its swatches are clickable)
      tips.stay();
      return;
    }
    const p = local(e);
    pointer = p;
    if (drag) {
      const dx = p.x - drag.x0, dy = p.y - drag.y0;
      if (!drag.moved && Math.hypot(dx, dy) >= DRAG_PX) drag.moved = true;
      if (!drag.moved) return;
      if (drag.box) {
        box = { x0: drag.x0, y0: drag.y0, x1: p.x, y1: p.y };
        drawOverlayNow();
      } else {
        setView(panBy(drag.view, dx, dy));
      }
      return;
    }
    const row = rowUnder(p);
    shiftDown = shiftHover(e, document);
    if (shiftDown) {
      if (!hover || hover.row !== row) setHover(row, true, e);
      return;
    }
    if (hover) setHover(-1);
    if (row !== pointed) {
      pointed = row;
      drawOverlayNow();
      tips.point(row); // the open tooltip lingers a moment so the pointer can reach it
    }
  }

  /** @param {PointerEvent} e */
  function onPointerDown(e) {
    if (e.button !== 0 || tip.contains(e.target)) return;
    stage.focus({ preventScroll: true });
    const p = local(e);
    const boxMod = e.ctrlKey || e.metaKey || e.altKey;
    drag = { x0: p.x, y0: p.y, view, moved: false, box: boxMod, add: e.ctrlKey || e.metaKey };
    stage.setPointerCapture?.(e.pointerId);
    tip.hide();
  }

  /** @param {PointerEvent} e */
  function onPointerUp(e) {
    if (!drag) return;
    const p = local(e);
    const d = drag;
    drag = null;
    stage.releasePointerCapture?.(e.pointerId);
    if (d.moved && d.box) {
      const a = screenToCell(view, d.x0, d.y0), b = screenToCell(view, p.x, p.y);
      const hits = rowsInBox(grid.index, grid.rows, grid.cols, a, b);
      box = null;
      saveSelection(applySelection([...selected], hits, d.add ? "add" : "replace"));
    } else if (!d.moved) {
      const row = rowUnder(p);
      if (d.add) {
        if (row >= 0) saveSelection(applySelection([...selected], [row], "toggle"));
      } else {
        saveSelection(row >= 0 ? [row] : []);
      }
    }
  }

  /** @param {WheelEvent} e */
  function onWheel(e) {
    e.preventDefault();
    const p = local(e);
    zoomBy(wheelFactor(e), p.x, p.y);
  }

  /** @param {boolean} down */
  function onShift(down) {
    shiftDown = down;
    if (shiftDown && pointer) setHover(rowUnder(pointer));
    if (!shiftDown) setHover(-1);
  }

  /** @param {import("./types").KeyAction} action */
  function onKeyAction(action) {
    const { w, h } = size();
    if (action === "clear") clearHighlights();
    else if (action === "zoomIn") zoomBy(ZOOM_STEP, w / 2, h / 2);
    else if (action === "zoomOut") zoomBy(1 / ZOOM_STEP, w / 2, h / 2);
    else if (action === "fit") fit();
    else if (action === "fitHits") fitHits();
  }

  function onLeave() {
    pointer = null;
    pointed = -1;
    tips.hide();
    if (hover && !drag) setHover(-1);
    else drawOverlayNow();
  }

  function scheduleSharp() {
    clearTimeout(sharpTimer);
    if (view.scale < SHARP_MIN_CELL_PX || view.scale * dpr <= grid.tile * 1.05 || !grid.n) return;
    sharpTimer = setTimeout(() => {
      const px = view.scale * dpr;
      // tile size follows the zoom (16..256 px, never upscaled); sizes match SHARP_SIZES in Python
      const want = px <= 32 ? 32 : px <= 64 ? 64 : px <= 128 ? 128 : 256;
      const { w, h } = size();
      const rows = grid.wantSharp(view, w, h, want).filter((r) => !pendingSharp.has(r)).slice(0, 256);
      if (!rows.length) return;
      rows.forEach((r) => pendingSharp.add(r));
      model.send({ type: "thumbs", rows, size: want, req: ++reqId });
    }, 120);
  }

  // ---------------------------------------------------------------- wiring
  const handlers = {
    "change:_cells": loadCells,
    "change:_grid": loadCells,
    "change:_colours": loadCells,
    "change:_table": loadTable,
    "change:_data_version": onVersion,
    "change:banner": syncBanner,
    "change:error": syncBanner,
    "change:selected": () => { selected = new Set(model.get("selected")); drawOverlayNow(); },
    "change:highlighted": () => {
      highlighted = model.get("highlighted");
      if (pendingFit && highlighted.length) fitHits();
      pendingFit = false;
      toolbar.sync();
      drawOverlayNow();
    },
    "change:colour_query": toolbar.sync,
    "change:_modes": toolbar.sync,
    "change:status": toolbar.sync,
    "change:hovered": () => {
      const v = model.get("hovered");
      if (v === lastSentHover) return; // echo guard: our own change coming back
      lastSentHover = v;
      setHover(v === null ? -1 : v, false);
    },
    "change:k": () => { if (hover) setHover(hover.row, false); toolbar.sync(); },
    "change:mode": toolbar.sync,
    "change:hybrid_weight": toolbar.sync,
    "change:query": toolbar.sync,
    "change:progress": toolbar.sync,
    "change:_can_rescan": toolbar.sync,
    "change:height": () => { stage.style.height = `${model.get("height")}px`; resize(); },
    "msg:custom": onCustom,
  };
  for (const [ev, fn] of Object.entries(handlers)) model.on(ev, fn);
  stage.style.height = `${model.get("height")}px`;
  stage.addEventListener("pointermove", onPointerMove);
  stage.addEventListener("pointerdown", onPointerDown);
  stage.addEventListener("pointerup", onPointerUp);
  stage.addEventListener("pointerleave", onLeave);
  stage.addEventListener("wheel", onWheel, { passive: false });
  const unbindKeys = bindKeys(stage, window, { onAction: onKeyAction, onShift });
  const ro = new ResizeObserver(() => resize());
  ro.observe(stage);
  const mo = new MutationObserver(() => { theme = readTheme(el); requestDraw(true); });
  if (document.body) mo.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });

  toolbar.sync();
  syncBanner();
  loadCells();
  loadTable();
  resize();
  model.send({ type: "hello" });

  return () => {
    disposed = true;
    for (const [ev, fn] of Object.entries(handlers)) model.off(ev, fn);
    unbindKeys();
    ro.disconnect();
    mo.disconnect();
    clearTimeout(sharpTimer);
    if (frame) cancelAnimationFrame(frame);
    tips.dispose();
    grid.reset();
  };
}

export default { render };
