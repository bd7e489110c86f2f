// Tooltip on plain hover: a larger thumbnail, file name, keywords with scores, palette, size.
// Details come from the kernel once per row ("info" request) and are cached.

function fmtBytes(n) {
  if (n == null) return "";
  const u = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export function buildTooltip(onColour) {
  const el = document.createElement("div");
  el.className = "vv-tooltip";
  el.style.display = "none";
  let shown = -1;
  function show(info, x, y, bounds) {
    const m = info.meta;
    el.replaceChildren();
    if (info.url) {
      const img = document.createElement("img");
      img.src = info.url;
      el.append(img);
    } else {
      const ph = document.createElement("div");
      ph.className = "vv-tip-missing";
      ph.textContent = m.missing ? "file not found" : "cannot read this image";
      el.append(ph);
    }
    const name = document.createElement("div");
    name.className = "vv-tip-name";
    name.textContent = m.name;
    name.title = m.path;
    el.append(name);
    if (m.keywords.length) {
      const kw = document.createElement("div");
      kw.className = "vv-tip-keywords";
      kw.textContent = m.keywords.map(([l, s]) => (s == null ? l : `${l} ${s.toFixed(2)}`)).join(" · ");
      el.append(kw);
    }
    if (m.palette.length) {
      const pal = document.createElement("div");
      pal.className = "vv-tip-palette";
      for (const [r, g, b] of m.palette) {
        const sw = document.createElement("span");
        const hex = "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
        sw.style.background = hex;
        sw.title = `${hex} — click to find images with this colour`;
        sw.addEventListener("click", () => onColour(hex));
        pal.append(sw);
      }
      el.append(pal);
    }
    const dims = m.width && m.height ? `${m.width}×${m.height}` : "";
    const size = [dims, fmtBytes(m.size)].filter(Boolean).join(" · ");
    if (size) {
      const s = document.createElement("div");
      s.className = "vv-tip-size";
      s.textContent = size;
      el.append(s);
    }
    el.style.display = "";
    const w = el.offsetWidth || 220, hgt = el.offsetHeight || 260;
    el.style.left = `${Math.min(x + 16, bounds.w - w - 4)}px`;
    el.style.top = `${y + 16 + hgt > bounds.h ? Math.max(0, y - hgt - 8) : y + 16}px`;
    shown = m.row;
  }
  function hide() {
    el.style.display = "none";
    shown = -1;
  }
  return { el, show, hide, get row() { return shown; } };
}
