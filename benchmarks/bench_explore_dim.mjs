// The browser's share of a filter update at 100k images: the dim image (one pixel per cell)
// built from the kernel's bit mask. `node benchmarks/bench_explore_dim.mjs [N]`.
import { dimPixels } from "../js/filterbar.js";

const n = Number(process.argv[2] || 100000);
const side = Math.ceil(Math.sqrt(n / 0.9));
const cells = new Int32Array(2 * n);
for (let i = 0; i < n; i++) { cells[2 * i] = Math.floor(i / side); cells[2 * i + 1] = i % side; }
const mask = new Uint8Array(Math.ceil(n / 8)).map((_, i) => (i * 37) & 255);
const times = [];
for (let k = 0; k < 9; k++) {
  const t = performance.now();
  dimPixels(mask, cells, n, side, side);
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(`dim image for N = ${n} (${side}×${side}): median ${times[4].toFixed(1)} ms`);
