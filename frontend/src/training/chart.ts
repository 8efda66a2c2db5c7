// The live convergence chart (uPlot): raw and smoothed training curve, validation points.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { chartColumns, hasValidation, type ChartView } from "./chartdata";
import type { HistoryPoint } from "./types";

const HEIGHT = 200;
/** Series colours (end-to-end tests look for the training curve's colour on the canvas). */
export const TRAIN_COLOR = "#4c9bff";
const RAW_COLOR = "rgba(76, 155, 255, 0.35)";
const VALIDATION_COLOR = "#ff8a3d";

export class ConvergenceChart {
  private plot: uPlot | null = null;
  private points: readonly HistoryPoint[] = [];
  private observer: ResizeObserver;

  constructor(
    private readonly host: HTMLElement,
    private view: ChartView,
  ) {
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(host);
    this.rebuild();
  }

  /** Draw these points (the whole history so far). */
  setPoints(points: readonly HistoryPoint[]): void {
    this.points = points;
    this.host.dataset.points = String(points.length);
    this.host.dataset.firstIteration = points.length ? String(points[0].iteration) : "";
    this.host.dataset.lastIteration = points.length ? String(points[points.length - 1].iteration) : "";
    if (!this.plot) return;
    this.plot.setData(chartColumns(points, this.view) as uPlot.AlignedData);
    this.plot.setSeries(3, { show: hasValidation(points) });
  }

  /** Change metric, smoothing or log scale; a scale change rebuilds the chart. */
  setView(view: ChartView): void {
    const rebuild = view.log !== this.view.log || view.metric !== this.view.metric;
    this.view = view;
    if (rebuild) this.rebuild();
    else this.setPoints(this.points);
  }

  private width(): number {
    return Math.max(200, Math.floor(this.host.clientWidth || 300));
  }

  private resize(): void {
    if (this.plot && Math.abs(this.plot.width - this.width()) > 1) {
      this.plot.setSize({ width: this.width(), height: HEIGHT });
    }
  }

  private rebuild(): void {
    this.plot?.destroy();
    const unit = this.view.metric === "loss" ? "loss" : "error %";
    const muted = getComputedStyle(this.host).getPropertyValue("--muted").trim() || "#666";
    const axis = { stroke: muted, grid: { stroke: "rgba(128, 128, 128, 0.18)", width: 1 }, ticks: { stroke: "rgba(128, 128, 128, 0.3)", width: 1 } };
    const opts: uPlot.Options = {
      width: this.width(),
      height: HEIGHT,
      legend: { show: true, live: false },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: false },
        y: this.view.log ? { distr: 3, log: 10 } : { auto: true },
      },
      axes: [
        { ...axis, label: "iteration", size: 34, labelSize: 14 },
        { ...axis, label: unit, size: 50, labelSize: 14 },
      ],
      series: [
        { label: "iteration" },
        { label: "raw", stroke: RAW_COLOR, width: 1, points: { show: false } },
        { label: "train", stroke: TRAIN_COLOR, width: 2, points: { show: false } },
        {
          label: "validation",
          stroke: VALIDATION_COLOR,
          width: 1.5,
          spanGaps: true,
          points: { show: true, size: 4 },
        },
      ],
    };
    this.plot = new uPlot(opts, chartColumns(this.points, this.view) as uPlot.AlignedData, this.host);
    this.setPoints(this.points);
  }

  /** Remove the chart and stop observing the container. */
  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
