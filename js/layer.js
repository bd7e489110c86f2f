// An extra canvas over the map (region labels, filter dimming): sized to the stage at the
// device pixel ratio, redrawn on the next animation frame when the view, theme or its own data
// change. Its own ResizeObserver keeps paint.js untouched.

/** @typedef {import("./types").MapState} MapState @typedef {import("./types").Size} Size */

/**
 * @param {{stage: HTMLElement, before: Element | null, className: string,
 *   store: import("./store").Store<MapState>, size: () => Size,
 *   draw: (ctx: CanvasRenderingContext2D, state: MapState, size: Size) => void}} deps
 */
export function canvasLayer({ stage, before, className, store, size, draw }) {
  const canvas = document.createElement("canvas");
  canvas.className = className;
  canvas.style.pointerEvents = "none";
  stage.insertBefore(canvas, before);
  let frame = 0;

  function drawNow() {
    if (frame) cancelAnimationFrame(frame);
    frame = 0;
    const { w, h } = size();
    const st = store.get();
    const dpr = st.dpr || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
    }
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    draw(ctx, st, { w, h });
  }
  const request = () => { if (!frame) frame = requestAnimationFrame(drawNow); };
  const unwatch = store.watch(["view", "theme", "dpr"], request);
  const ro = new ResizeObserver(request);
  ro.observe(stage);
  request();
  return {
    canvas, request, drawNow,
    dispose() {
      unwatch();
      ro.disconnect();
      if (frame) cancelAnimationFrame(frame);
      canvas.remove();
    },
  };
}
