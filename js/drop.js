// Query by image from the browser: an image file dropped or pasted on the map is sent to the
// kernel (a `query_image` request, its bytes as the one buffer), which highlights the images
// most like it, as w.query_image does. Non-images and files over the size limit are refused here.

/** Largest file sent (protocol.MAX_QUERY_IMAGE_BYTES). */
export const MAX_BYTES = 32 * 2 ** 20;
const IMAGE_NAME = /\.(jpe?g|png|gif|webp|bmp|tiff?|heic|heif|avif)$/i;

/**
 * Why `file` cannot be sent ("" when it can).
 * @param {{name: string, type: string, size: number}} file @returns {string}
 */
export function refusal(file) {
  if (!(file.type || "").startsWith("image/") && !IMAGE_NAME.test(file.name || "")) return `${file.name || "that"} is not an image file`;
  if (!file.size) return `${file.name} is empty`;
  if (file.size > MAX_BYTES) return `${file.name} is larger than ${MAX_BYTES / 2 ** 20} MB`;
  return "";
}

/** The search space of a map mode. @param {string} mode @returns {"visual" | "semantic" | "hybrid"} */
export const spaceFor = (mode) => (mode === "semantic" ? "semantic" : mode === "hybrid" ? "hybrid" : "visual");

/**
 * Listen for dropped and pasted image files on `stage`.
 * @param {HTMLElement} stage @param {{model: import("./types").Model, notify: (text: string) => void}} deps
 * @returns {() => void} unbind
 */
export function bindDrop(stage, { model, notify }) {
  /** @param {File} file */
  async function send(file) {
    const why = refusal(file);
    if (why) return notify(why);
    const buf = await file.arrayBuffer();
    const name = (file.name || "pasted image").slice(0, 255);
    notify(`finding images like ${name}…`);
    model.send({ type: "query_image", name, size: buf.byteLength, space: spaceFor(model.get("mode")) }, undefined, [buf]);
  }
  /** @param {DragEvent} e */
  const over = (e) => {
    if (!e.dataTransfer || ![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    stage.classList.add("vv-drop-target");
  };
  const leave = () => stage.classList.remove("vv-drop-target");
  /** @param {DragEvent} e */
  const drop = (e) => {
    leave();
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    e.preventDefault();
    void send(file);
  };
  /** @param {ClipboardEvent} e */
  const paste = (e) => {
    const file = e.clipboardData?.files?.[0];
    if (!file) return;
    e.preventDefault();
    void send(file);
  };
  stage.addEventListener("dragover", over);
  stage.addEventListener("dragleave", leave);
  stage.addEventListener("drop", drop);
  stage.addEventListener("paste", paste);
  return () => {
    stage.removeEventListener("dragover", over);
    stage.removeEventListener("dragleave", leave);
    stage.removeEventListener("drop", drop);
    stage.removeEventListener("paste", paste);
  };
}
