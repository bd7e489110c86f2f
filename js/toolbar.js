// Toolbar: layout mode, hybrid weight, search, colour, k, zoom buttons, rescan, live progress.

const MODES = [
  ["visual", "Look", "Arrange by visual similarity (DINOv2)"],
  ["semantic", "Meaning", "Arrange by meaning (SigLIP)"],
  ["hybrid", "Hybrid", "Mix look and meaning (slider: share of look)"],
  ["colour", "Colour", "Arrange by average colour"],
];

const HINT = "Shift + hover: similar images · Ctrl + drag: select · wheel: zoom";

function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const kid of kids) e.append(kid);
  return e;
}

/** Build the toolbar; returns {el, sync(), setStatus(text)} and wires inputs to the model. */
export function buildToolbar(model, actions) {
  const save = (key, value) => {
    model.set(key, value);
    model.save_changes();
  };
  const modeBtns = MODES.map(([mode, text, title]) =>
    h("button", { class: "vv-mode", "data-mode": mode, title, onclick: () => save("mode", mode) }, text));
  const weight = h("input", {
    class: "vv-weight", type: "range", min: "0", max: "1", step: "0.05", title: "Hybrid: share of look",
    onchange: (e) => save("hybrid_weight", Number(e.target.value)),
  });
  const search = h("input", {
    class: "vv-search", type: "search", placeholder: "Search…", title: "Text search (Enter); Esc clears",
  });
  search.addEventListener("keydown", (e) => {
    e.stopPropagation();
    if (e.key === "Enter") save("query", search.value.trim());
    if (e.key === "Escape") {
      search.value = "";
      actions.clearHighlights();
    }
  });
  const colour = h("input", {
    class: "vv-colour", type: "color", title: "Find images with this colour",
    onchange: (e) => save("colour_query", e.target.value),
  });
  const k = h("input", {
    class: "vv-k", type: "number", min: "1", max: "100", title: "Neighbours shown by Shift+Hover",
    onchange: (e) => save("k", Math.max(1, Math.min(100, Number(e.target.value) || 10))),
  });
  const zoomOut = h("button", { class: "vv-zoom-out", title: "Zoom out (−)", onclick: () => actions.zoom(1 / 1.5) }, "−");
  const zoomIn = h("button", { class: "vv-zoom-in", title: "Zoom in (+)", onclick: () => actions.zoom(1.5) }, "+");
  const fit = h("button", { class: "vv-fit", title: "Fit the whole map (0)", onclick: () => actions.fit() }, "⤢");
  const rescan = h("button", {
    class: "vv-rescan", onclick: () => model.send({ type: "rescan" }),
  }, "⟳");
  const bar = h("progress", { class: "vv-progress", max: "1", value: "0" });
  const status = h("span", { class: "vv-status" });
  const el = h("div", { class: "vv-toolbar" },
    h("span", { class: "vv-modes" }, ...modeBtns), weight, search,
    h("label", { class: "vv-colour-label", title: "Find images with this colour" }, "colour ", colour),
    h("label", { class: "vv-k-label", title: "Neighbours shown by Shift+Hover" }, "k ", k),
    h("span", { class: "vv-zoom" }, zoomOut, zoomIn, fit), rescan, bar, status);

  function sync() {
    const mode = model.get("mode");
    for (const b of modeBtns) b.classList.toggle("vv-active", b.dataset.mode === mode);
    weight.style.display = mode === "hybrid" ? "" : "none";
    weight.value = String(model.get("hybrid_weight"));
    k.value = String(model.get("k"));
    if (document.activeElement !== search) search.value = model.get("query");
    const can = model.get("_can_rescan");
    rescan.disabled = !can;
    rescan.title = can ? "Rescan the library's folders (re-embed every image)"
      : "Rescan needs encoders: VectorVision(lib, encoders=vv.Encoders.load())";
    const p = model.get("progress") || {};
    const parts = [];
    let frac = null;
    if (p.scan) {
      parts.push(p.scan[1] ? `rescanning ${p.scan[0]}/${p.scan[1]}` : "rescanning…");
      frac = p.scan[1] ? p.scan[0] / p.scan[1] : 0;
    }
    if (p.som) {
      parts.push(`training map ${p.som[0]}/${p.som[1]}`);
      if (frac === null) frac = p.som[1] ? p.som[0] / p.som[1] : 0;
    }
    if (p.thumbs) {
      parts.push(`thumbnails ${p.thumbs[0]}/${p.thumbs[1]}`);
      if (frac === null) frac = p.thumbs[1] ? p.thumbs[0] / p.thumbs[1] : 0;
    }
    if (p.table === "computing") parts.push("preparing Shift+Hover…");
    bar.style.display = frac === null ? "none" : "";
    bar.value = frac ?? 0;
    status.textContent = parts.length ? parts.join(" · ") : HINT;
    status.classList.toggle("vv-hint", !parts.length);
  }
  return { el, sync, search };
}
