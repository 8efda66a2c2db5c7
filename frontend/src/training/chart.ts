// The live convergence chart (uPlot): raw and smoothed training curve, the validation line,
// and the final value as a level line over the iterations it averages (named in the legend).

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { FINAL_DEFINITION, finalLegend, finalMetric, type FinalValues } from "../core/figures";
import {
  chartColumns,
  hasValidation,
  yRange,
  type ChartColumns,
  type ChartView,
} from "./chartdata";
import type { HistoryPoint } from "./types";

/** The chart's height in the panel; expanded, it fills its (larger) container. */
const HEIGHT = 200;
/** Series colours (end-to-end tests look for the training curve's colour on the canvas). */
export const TRAIN_COLOR = "#4c9bff";
const RAW_COLOR = "rgba(76, 155, 255, 0.35)";
/** The validation line's colour (end-to-end tests look for it too). */
export const VALIDATION_COLOR = "#ff8a3d";
const FINAL_COLOR = "#b04cd8";

export class ConvergenceChart {
  private plot: uPlot | null = null;
  private points: readonly HistoryPoint[] = [];
  private columns: ChartColumns | null = null;
  private final: FinalValues | null = null;
  private observer: ResizeObserver;
  /** The final-value series' legend label (uPlot shows this element as it is). */
  private readonly finalLabel = document.createElement("span");

  constructor(
    private readonly host: HTMLElement,
    private view: ChartView,
  ) {
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(host);
    this.finalLabel.className = "tr-final-legend";
    this.finalLabel.title = FINAL_DEFINITION;
    this.rebuild();
  }

  /** The run's final value (from the server): drawn over its window, named in the legend. */
  setFinal(final: FinalValues | null | undefined): void {
    this.final = final ?? null;
    this.setPoints(this.points);
  }

  /** Draw these points (the whole history so far). */
  setPoints(points: readonly HistoryPoint[]): void {
    this.points = points;
    this.host.dataset.points = String(points.length);
    this.host.dataset.firstIteration = points.length ? String(points[0].iteration) : "";
    this.host.dataset.lastIteration = points.length
      ? String(points[points.length - 1].iteration)
      : "";
    this.host.dataset.validationPoints = String(
      points.filter((p) => p.val_loss !== null && p.val_loss !== undefined).length,
    );
    this.showFinal();
    if (!this.plot) return;
    this.columns = chartColumns(points, this.view, this.final);
    this.plot.setData(this.columns as uPlot.AlignedData);
    this.plot.setSeries(3, { show: hasValidation(points) });
    // The range the axis takes (uPlot applies it on its next redraw).
    const y = yRange(this.columns, this.view.log);
    this.host.dataset.yMin = y ? String(y[0]) : "";
    this.host.dataset.yMax = y ? String(y[1]) : "";
  }

  /** The y range: the smoothed curve, validation and final value set it (raw spikes do not). */
  private range(min: number, max: number): [number, number] {
    const range = this.columns ? yRange(this.columns, this.view.log) : null;
    if (range) return range;
    return this.view.log ? [Math.max(min, 1e-6), Math.max(max, 1e-5)] : [min, max];
  }

  private showFinal(): void {
    const final = this.final;
    this.finalLabel.textContent = finalLegend(final, this.view.metric);
    const data = this.host.dataset;
    data.finalLoss = final ? finalMetric(final, "loss") : "";
    data.finalErrorRate = final ? finalMetric(final, "error_rate") : "";
    data.finalOver = final ? String(final.over) : "";
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

  /** 200 px in the panel; in the expanded view the height its container gives it. */
  private height(): number {
    const expanded = this.host.closest(".tr-expanded") !== null;
    return expanded ? Math.max(HEIGHT, Math.floor(this.host.clientHeight - 40)) : HEIGHT;
  }

  /** Fit the chart to its container again (after expanding or collapsing it). */
  resize(): void {
    if (!this.plot) return;
    const width = this.width();
    const height = this.height();
    if (Math.abs(this.plot.width - width) > 1 || Math.abs(this.plot.height - height) > 1)
      this.plot.setSize({ width, height });
  }

  private rebuild(): void {
    this.plot?.destroy();
    const unit = this.view.metric === "loss" ? "loss" : "error %";
    const muted = getComputedStyle(this.host).getPropertyValue("--muted").trim() || "#666";
    const axis = {
      stroke: muted,
      grid: { stroke: "rgba(128, 128, 128, 0.18)", width: 1 },
      ticks: { stroke: "rgba(128, 128, 128, 0.3)", width: 1 },
    };
    const opts: uPlot.Options = {
      width: this.width(),
      height: this.height(),
      legend: { show: true, live: false },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: false },
        y: {
          ...(this.view.log ? { distr: 3, log: 10 } : {}),
          range: (_u, min, max) => this.range(min, max),
        },
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
        {
          label: this.finalLabel,
          stroke: FINAL_COLOR,
          width: 2,
          dash: [6, 4],
          points: { show: false },
        },
      ],
    };
    this.columns = chartColumns(this.points, this.view, this.final);
    this.plot = new uPlot(opts, this.columns as uPlot.AlignedData, this.host);
    this.setPoints(this.points);
  }

  /** Remove the chart and stop observing the container. */
  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
