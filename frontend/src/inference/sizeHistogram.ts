// A small histogram of object sizes for one class: bars over log-spaced area bins (the
// server's `sizes.edges_um2` / `sizes.counts`), drawn on a canvas in the class colour, with
// ticks at powers of ten (µm²). Layout and text are pure functions (tested); `drawHistogram`
// paints them.

import { formatNumber } from "../core/format";

export interface SizeBins {
  edges_um2: number[];
  counts: number[];
}

export interface Bar {
  /** Left edge and width in CSS px inside the plot. */
  x: number;
  width: number;
  /** Top and height in CSS px (bars stand on the plot's bottom). */
  y: number;
  height: number;
  count: number;
  from: number;
  to: number;
}

/** Plot geometry: the canvas size and the margin kept for tick labels below. */
export interface PlotBox {
  width: number;
  height: number;
  bottom: number;
}

/** Whether bins can be drawn: edges one longer than counts, increasing, some object. */
export function validBins(sizes: SizeBins | null | undefined): sizes is SizeBins {
  if (!sizes || !Array.isArray(sizes.edges_um2) || !Array.isArray(sizes.counts)) return false;
  const { edges_um2: edges, counts } = sizes;
  if (counts.length === 0 || edges.length !== counts.length + 1) return false;
  for (let i = 1; i < edges.length; i++) if (!(edges[i] > edges[i - 1])) return false;
  return counts.some((c) => c > 0);
}

/** Position of `value` on the x axis from 0 to 1: log scale when every edge is positive. */
export function axisPosition(value: number, low: number, high: number): number {
  if (high <= low) return 0;
  if (low > 0) return (Math.log(value) - Math.log(low)) / (Math.log(high) - Math.log(low));
  return (value - low) / (high - low);
}

/** The bars of a histogram in a plot box (empty bins give no bar). */
export function histogramBars(sizes: SizeBins, box: PlotBox): Bar[] {
  if (!validBins(sizes)) return [];
  const edges = sizes.edges_um2;
  const low = edges[0];
  const high = edges[edges.length - 1];
  const plotHeight = box.height - box.bottom;
  const most = Math.max(...sizes.counts);
  const bars: Bar[] = [];
  sizes.counts.forEach((count, i) => {
    if (count <= 0) return;
    const left = axisPosition(edges[i], low, high) * box.width;
    const right = axisPosition(edges[i + 1], low, high) * box.width;
    // At least 1 px high, so one object among thousands still shows.
    const height = Math.max(1, (count / most) * plotHeight);
    bars.push({
      x: left,
      width: Math.max(1, right - left),
      y: plotHeight - height,
      height,
      count,
      from: edges[i],
      to: edges[i + 1],
    });
  });
  return bars;
}

/** Powers of ten within [low, high] (µm²), for the tick marks of a log axis. */
export function logTicks(low: number, high: number): number[] {
  if (!(low > 0) || !(high > low)) return [];
  const ticks: number[] = [];
  for (let e = Math.ceil(Math.log10(low)); e <= Math.floor(Math.log10(high)); e++) {
    ticks.push(10 ** e);
  }
  return ticks;
}

/** A tick label in µm², short: "1", "10", "100", "1k", "10k", "1M" (and "0.1"). */
export function tickText(um2: number): string {
  if (um2 >= 1e6) return `${formatNumber(um2 / 1e6)}M`;
  if (um2 >= 1e3) return `${formatNumber(um2 / 1e3)}k`;
  return formatNumber(um2);
}

/** One bin said in words: "12 objects of 50–100 µm²". */
export function binText(bar: Pick<Bar, "count" | "from" | "to">): string {
  const what = bar.count === 1 ? "object" : "objects";
  return `${bar.count.toLocaleString("en-US")} ${what} of ${formatNumber(bar.from)}–${formatNumber(bar.to)} µm²`;
}

/** The histogram in a sentence (the canvas's accessible name). */
export function histogramText(name: string, sizes: SizeBins | null | undefined): string {
  if (!validBins(sizes)) return `${name}: no objects`;
  const total = sizes.counts.reduce((a, b) => a + b, 0);
  const first = sizes.counts.findIndex((c) => c > 0);
  let last = sizes.counts.length - 1;
  while (last > 0 && sizes.counts[last] <= 0) last--;
  const low = sizes.edges_um2[first];
  const high = sizes.edges_um2[last + 1];
  return `${name}: ${total.toLocaleString("en-US")} object${total === 1 ? "" : "s"}, ${formatNumber(low)}–${formatNumber(high)} µm²`;
}

const BOX: PlotBox = { width: 220, height: 56, bottom: 13 };

/** A canvas with the histogram of `sizes` drawn in `color`; its title follows the mouse. */
export function histogramCanvas(name: string, color: string, sizes: SizeBins): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  canvas.className = "inf-size-histogram";
  canvas.style.width = `${BOX.width}px`;
  canvas.style.height = `${BOX.height}px`;
  const label = histogramText(name, sizes);
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `Object sizes. ${label}`);
  canvas.title = label;
  const bars = histogramBars(sizes, BOX);
  canvas.dataset.bars = String(bars.length);
  canvas.addEventListener("mousemove", (event) => {
    const x = event.offsetX;
    const bar = bars.find((b) => x >= b.x && x <= b.x + b.width);
    canvas.title = bar ? binText(bar) : label;
  });
  // Drawn once it is in the page, so the text colour of the theme is known.
  requestAnimationFrame(() => drawHistogram(canvas, bars, sizes, color));
  return canvas;
}

/** Paint `bars` (from `histogramBars` with the default box) with their axis and ticks. */
export function drawHistogram(
  canvas: HTMLCanvasElement,
  bars: Bar[],
  sizes: SizeBins,
  color: string,
): void {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(BOX.width * ratio);
  canvas.height = Math.round(BOX.height * ratio);
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, BOX.width, BOX.height);
  const ink = getComputedStyle(canvas).color || "#666";
  const base = BOX.height - BOX.bottom;
  ctx.fillStyle = color;
  for (const bar of bars) ctx.fillRect(bar.x, bar.y, bar.width, bar.height);
  ctx.strokeStyle = ink;
  ctx.globalAlpha = 0.6;
  ctx.beginPath();
  ctx.moveTo(0, base + 0.5);
  ctx.lineTo(BOX.width, base + 0.5);
  ctx.stroke();
  ctx.globalAlpha = 1;
  ctx.fillStyle = ink;
  ctx.font = "9px sans-serif";
  ctx.textBaseline = "top";
  const edges = sizes.edges_um2;
  const low = edges[0];
  const high = edges[edges.length - 1];
  for (const tick of logTicks(low, high)) {
    const x = axisPosition(tick, low, high) * BOX.width;
    ctx.fillRect(Math.round(x), base, 1, 3);
    const text = tickText(tick);
    const w = ctx.measureText(text).width;
    ctx.fillText(text, Math.min(Math.max(0, x - w / 2), BOX.width - w), base + 3);
  }
}
