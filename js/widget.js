// VectorVision widget lifecycle: model <-> renderer wiring, input handling, requests.
import { asFloat32, asInt32, asUint8, jpegBlob } from "./codecs.js";
import { GridRenderer } from "./grid.js";
import { rowAt, rowsInBox } from "./hit.js";
import { applySelection, drawOverlay, neighboursOf } from "./overlay.js";
import { buildToolbar } from "./toolbar.js";
import { buildTooltip } from "./tooltip.js";
import { fitView, panBy, screenToCell, zoomAt } from "./view.js";

const DRAG_PX = 4;
const SHARP_MIN_CELL_PX = 24; // and only once atlas tiles would be upscaled
const TOOLTIP_DELAY_MS = 250;

function cssVar(el, name, fallback) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

function readTheme(el) {
  const light = document.body?.dataset?.jpThemeLight !== "false";
  return {
    bg: cssVar(el, "--jp-layout-color2", light ? "#eeeeee" : "#222222"),
    fg: cssVar(el, "--jp-ui-font-color1", light ? "#222222" : "#dddddd"),
    accent: cssVar(el, "--jp-brand-color1", "#1976d2"),
    onAccent: "#ffffff",
    select: cssVar(el, "--jp-warn-color1", "#f57c00"),
    ring: light ? "#000000" : "#ffffff",
    dim: light ? "rgba(255,255,255,0.72)" : "rgba(0,0,0,0.72)",
    boxFill: "rgba(245,124,0,0.15)",
  };
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "vv-root";
  const toolbar = buildToolbar(model, {
    zoom: (f) => { const s = size(); setView(zoomAt(view, f, s.w / 2, s.h / 2)); },
    fit: () => fit(),
    clearHighlights: () => clearHighlights(),
  });
  const make = (tag, className) => Object.assign(document.createElement(tag), { className });
  const banner = make("div", "vv-banner");
  const errorLine = make("div", "vv-error");
  const stage = make("div", "vv-stage");
  stage.tabIndex = 0;
  const base = make("canvas", "vv-base");
  const over = make("canvas", "vv-overlay");
  const empty = make("div", "vv-empty");
  empty.textContent = "This library is empty. Scan a folder with vv.scan(folder, lib, encoders=enc), then w.refresh().";
  const tip = buildTooltip((hex) => { model.set("colour_query", hex); model.save_changes(); });
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
  let hover = null; // {row, nbrs}
  let lastSentHover = model.get("hovered");
  let pointed = -1;
  let pointer = null; // last pointer position in stage px
  let shiftDown = false;
  let box = null;
  let drag = null;
  let frame = 0, baseDirty = true;
  let version = model.get("_data_version");
  const infoCache = new Map();
  let tipTimer = 0, sharpTimer = 0, reqId = 0;
  const pendingSharp = new Set();
  const stats = { hoverMs: [], hoverWorkMs: [], drawMs: [], overlayMs: [], firstFullRender: null, atlasCount: 0 };
  root.__vv = { stats, get view() { return view; }, grid, setView: (v) => setView(v), drawNow: () => drawNow() };

  const size = () => ({ w: stage.clientWidth || 600, h: stage.clientHeight || model.get("height") });

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
    requestDraw(true);
  }

  function setView(v) {
    view = v;
    autoFit = false;
    requestDraw(true);
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
      const ctx = base.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      again = grid.draw(ctx, view, w, h, dpr, theme);
      baseDirty = again;
      stats.drawMs.push(performance.now() - t0);
      if (stats.drawMs.length > 600) stats.drawMs.shift();
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
    const ctx = over.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawOverlay(ctx, {
      view, w, h, theme, cells: grid.cells, selected, highlighted, hover, box, pointed,
      drawTile: (c, row, x, y, s) => grid.drawTile(c, row, x, y, s, dpr),
    });
    stats.overlayMs.push(performance.now() - t0);
    if (stats.overlayMs.length > 600) stats.overlayMs.shift();
  }

  // ---------------------------------------------------------------- model -> view
  function loadCells() {
    const n = model.get("_n");
    const [rows, cols] = model.get("_grid");
    const cells = asInt32(model.get("_cells")).slice(0, 2 * n);
    const newGrid = grid.rows !== Math.max(rows, 1) || grid.cols !== Math.max(cols, 1);
    grid.setCells(cells, n, rows, cols, asUint8(model.get("_colors")).slice());
    empty.style.display = n ? "none" : "";
    if (autoFit || newGrid) fit();
    requestDraw(true);
  }

  function loadTable() {
    nbrIdx = asInt32(model.get("_nbr_idx"));
    nbrScores = asFloat32(model.get("_nbr_scores"));
    nbrK = model.get("_nbr_k");
    if (hover) setHover(hover.row, false);
  }

  function onVersion() {
    const v = model.get("_data_version");
    if (v === version) return;
    version = v;
    grid.reset();
    infoCache.clear();
    pendingSharp.clear();
    autoFit = true;
  }

  function syncBanner() {
    const text = model.get("banner");
    banner.textContent = text ? `⚠ ${text}` : "";
    banner.style.display = text ? "" : "none";
    const err = model.get("error");
    errorLine.textContent = err;
    errorLine.style.display = err ? "" : "none";
  }

  function onCustom(msg, buffers) {
    if (!msg || msg.version !== undefined && msg.version !== version) return;
    if (msg.type === "atlas") {
      createImageBitmap(jpegBlob(buffers[0])).then((bmp) => {
        if (msg.version !== version) return bmp.close();
        grid.addAtlas(msg, bmp);
        stats.atlasCount += 1;
        requestDraw(true);
        if (stats.firstFullRender === null && grid.atlases.filter(Boolean).length * grid.perAtlas >= grid.n) {
          requestAnimationFrame(() => { stats.firstFullRender = performance.now(); });
        }
      });
    } else if (msg.type === "thumbs") {
      msg.rows.forEach((row, i) => {
        pendingSharp.delete(row);
        createImageBitmap(jpegBlob(buffers[i])).then((bmp) => {
          if (msg.version !== version) return bmp.close();
          grid.addSharp(row, msg.size, bmp);
          requestDraw(true);
        });
      });
    } else if (msg.type === "info") {
      const info = { meta: msg.meta, url: buffers.length ? URL.createObjectURL(jpegBlob(buffers[0])) : null };
      infoCache.set(msg.row, info);
      if (pointed === msg.row && !hover && pointer) tip.show(info, pointer.x, pointer.y, size());
    }
  }

  // ---------------------------------------------------------------- hover / selection
  function setHover(row, sync = true, event = null) {
    const tWork = performance.now();
    const t0 = event ? Math.min(event.timeStamp, tWork) : tWork;
    if (row < 0 || row === undefined || row === null) {
      if (!hover) return;
      hover = null;
    } else {
      hover = { row, nbrs: neighboursOf(nbrIdx, nbrScores, nbrK, row, model.get("k")) };
    }
    tip.hide();
    drawOverlayNow();
    const tEnd = performance.now();
    stats.hoverMs.push(tEnd - t0);
    stats.hoverWorkMs.push(tEnd - tWork);
    if (stats.hoverMs.length > 600) stats.hoverMs.shift();
    if (stats.hoverWorkMs.length > 600) stats.hoverWorkMs.shift();
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

  function rowUnder(p) {
    const { r, c } = screenToCell(view, p.x, p.y);
    return rowAt(grid.index, grid.rows, grid.cols, r, c);
  }

  function local(e) {
    const r = stage.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

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

  function onPointerMove(e) {
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
    shiftDown = e.shiftKey;
    if (e.shiftKey) {
      if (!hover || hover.row !== row) setHover(row, true, e);
      return;
    }
    if (hover) setHover(-1);
    if (row !== pointed) {
      pointed = row;
      drawOverlayNow();
      scheduleTooltip(row, p);
    } else if (row >= 0 && tip.row === row && infoCache.has(row)) {
      tip.show(infoCache.get(row), p.x, p.y, size());
    }
  }

  function scheduleTooltip(row, p) {
    clearTimeout(tipTimer);
    tip.hide();
    if (row < 0) return;
    tipTimer = setTimeout(() => {
      if (pointed !== row || hover || drag) return;
      const info = infoCache.get(row);
      if (info) tip.show(info, pointer.x, pointer.y, size());
      else model.send({ type: "info", row });
    }, TOOLTIP_DELAY_MS);
  }

  function onPointerDown(e) {
    if (e.button !== 0) return;
    stage.focus({ preventScroll: true });
    const p = local(e);
    const boxMod = e.ctrlKey || e.metaKey || e.altKey;
    drag = { x0: p.x, y0: p.y, view, moved: false, box: boxMod, add: e.ctrlKey || e.metaKey };
    stage.setPointerCapture?.(e.pointerId);
    tip.hide();
  }

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

  function onWheel(e) {
    e.preventDefault();
    const p = local(e);
    const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
    setView(zoomAt(view, factor, p.x, p.y));
  }

  function onKey(e) {
    if (e.key === "Shift") {
      shiftDown = e.type === "keydown";
      if (shiftDown && pointer) setHover(rowUnder(pointer));
      if (!shiftDown) setHover(-1);
      return;
    }
    if (e.type !== "keydown" || e.target !== stage) return;
    const { w, h } = size();
    if (e.key === "Escape") clearHighlights();
    else if (e.key === "+" || e.key === "=") setView(zoomAt(view, 1.5, w / 2, h / 2));
    else if (e.key === "-" || e.key === "_") setView(zoomAt(view, 1 / 1.5, w / 2, h / 2));
    else if (e.key === "0") fit();
  }

  function onLeave() {
    pointer = null;
    pointed = -1;
    clearTimeout(tipTimer);
    tip.hide();
    if (hover && !drag) setHover(-1);
    else drawOverlayNow();
  }

  function scheduleSharp() {
    clearTimeout(sharpTimer);
    if (view.scale < SHARP_MIN_CELL_PX || view.scale * dpr <= grid.tile * 1.05 || !grid.n) return;
    sharpTimer = setTimeout(() => {
      const px = view.scale * dpr;
      const want = px <= 64 ? 64 : px <= 128 ? 128 : 256; // never upscale a sharp thumbnail
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
    "change:_n": loadCells,
    "change:_colors": loadCells,
    "change:_nbr_idx": loadTable,
    "change:_nbr_scores": loadTable,
    "change:_nbr_k": loadTable,
    "change:_data_version": onVersion,
    "change:banner": syncBanner,
    "change:error": syncBanner,
    "change:selected": () => { selected = new Set(model.get("selected")); drawOverlayNow(); },
    "change:highlighted": () => { highlighted = model.get("highlighted"); drawOverlayNow(); },
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
  stage.addEventListener("keydown", onKey);
  window.addEventListener("keydown", onKey);
  window.addEventListener("keyup", onKey);
  const onBlur = () => { shiftDown = false; setHover(-1); };
  window.addEventListener("blur", onBlur);
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
    for (const [ev, fn] of Object.entries(handlers)) model.off(ev, fn);
    window.removeEventListener("keydown", onKey);
    window.removeEventListener("keyup", onKey);
    window.removeEventListener("blur", onBlur);
    ro.disconnect();
    mo.disconnect();
    clearTimeout(tipTimer);
    clearTimeout(sharpTimer);
    if (frame) cancelAnimationFrame(frame);
    for (const info of infoCache.values()) if (info.url) URL.revokeObjectURL(info.url);
    grid.reset();
  };
}

export default { render };
