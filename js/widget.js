// Placeholder entry point; the widget issue replaces it.
function render({ el }) {
  el.textContent = "vectorvision widget";
  return () => {};
}
export default { render };
