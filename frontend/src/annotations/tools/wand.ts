// The magic wand tool: a click asks the server for the area of similar colour around it
// (GET /api/slides/<id>/wand at the viewer's zoom) and shows its outline live, dashed, on a
// layer above the labels; the tolerance (toolbar slider or Alt+wheel) redraws it; Enter
// or a click inside commits it as an ordinary polygon edit of the active class (so undo
// works); Escape drops it.

import { getJson } from "../../core/api";
import { frameThrottle, h } from "../../core/dom";
import { showError } from "../../core/toast";
import { tracePolygon } from "../strokes";
import type { Position } from "../types";
import type { ToolHost } from "./catalog";
import { commitPolygon } from "./edits";
import { resetLayer } from "./layer";
import { TOLERANCE_STEP, WandState, wandUrl, type WandAnswer } from "./wandState";

export class WandTool {
  readonly state: WandState;
  private readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly requestDraw: () => void;
  private listeners = new Set<() => void>();

  constructor(
    stage: HTMLElement,
    private readonly host: ToolHost,
    /** Whether the wand is the active tool (it takes Alt+wheel only then). */
    private readonly selected: () => boolean,
    surface: HTMLElement,
  ) {
    this.canvas = h("canvas", {
      class: "layer wand-layer",
      "data-testid": "wand-layer",
      "aria-hidden": "true",
    });
    this.ctx = this.canvas.getContext("2d")!;
    stage.append(this.canvas);
    this.requestDraw = frameThrottle(() => this.draw());
    this.state = new WandState(
      (url) => getJson<WandAnswer>(url),
      () => {
        this.requestDraw();
        this.notify();
      },
      showError,
    );
    host.viewer.onViewChange(() => {
      if (this.state.outline) this.draw();
    });
    // Alt+wheel sets the tolerance instead of zooming (captured before the gestures' zoom).
    surface.addEventListener(
      "wheel",
      (event) => {
        if (!event.altKey || !this.selected()) return;
        event.preventDefault();
        event.stopImmediatePropagation();
        this.nudge(event.deltaY < 0 ? 1 : -1);
      },
      { capture: true, passive: false },
    );
  }

  /** The tolerance (0..100, Lab distance). */
  get tolerance(): number {
    return this.state.tolerance;
  }

  /** Call `listener` when the outline or the tolerance changes. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Set the tolerance; a shown outline follows. */
  setTolerance(value: number): void {
    void this.state.setTolerance(value);
  }

  /** A click at a level-0 point: commit when inside the shown outline, else a new outline. */
  click(point: Position): void {
    if (this.state.outline && !this.state.pending && this.state.contains(point)) {
      this.commit();
      return;
    }
    const slide = this.host.viewer.slide();
    const z = this.host.viewer.imageZoom();
    if (!slide || !(z > 0)) return;
    const inside =
      !slide.width ||
      !slide.height ||
      (point[0] >= 0 && point[1] >= 0 && point[0] < slide.width && point[1] < slide.height);
    if (!inside) {
      this.host.notify("Click on the slide to pick an area");
      return;
    }
    void this.state.start({ slideId: slide.id, point, downsample: 1 / z });
  }

  /** Enter commits, Escape drops the outline; true when used. */
  handleKey(key: string): boolean {
    if (!this.state.active()) return false;
    switch (key) {
      case "Enter":
        this.commit();
        return true;
      case "Escape":
        this.cancel();
        return true;
      default:
        return false;
    }
  }

  /** Drop the outline. */
  cancel(): void {
    this.state.cancel();
  }

  /** Send the shown outline as a polygon edit of the active class. */
  commit(): void {
    if (this.state.pending) return; // the outline shown is about to change
    const outline = this.state.take();
    if (outline) commitPolygon(this.host, "polygon", outline);
  }

  private nudge(direction: number): void {
    this.setTolerance(this.state.tolerance + direction * TOLERANCE_STEP);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  private draw(): void {
    const dpr = resetLayer(this.canvas, this.ctx, this.host.viewer);
    const ctx = this.ctx;
    const polygon = this.state.outline?.polygon;
    this.canvas.dataset.state = this.state.pending ? "pending" : polygon ? "shown" : "none";
    this.canvas.dataset.area = polygon ? String(this.state.outline?.area_px ?? 0) : "";
    const seed = this.state.seed;
    // The request the outline answers (tests ask the API the same question).
    this.canvas.dataset.request = seed ? wandUrl(seed, this.state.outlineTolerance) : "";
    const z = this.host.viewer.imageZoom();
    if (!polygon || polygon.length < 3 || !(z > 0)) return;
    const [ox, oy] = this.host.viewer.toScreen(0, 0);
    ctx.setTransform(z * dpr, 0, 0, z * dpr, ox * dpr, oy * dpr);
    const color = this.host.classes.activeClass()?.color ?? "#ffffff";
    tracePolygon(ctx, polygon);
    ctx.globalAlpha = 0.2;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.lineWidth = 2 / z;
    ctx.lineJoin = "round";
    ctx.setLineDash([]);
    ctx.strokeStyle = "rgba(0, 0, 0, 0.8)";
    ctx.stroke();
    ctx.lineWidth = 1.5 / z;
    ctx.setLineDash([6 / z, 4 / z]);
    ctx.strokeStyle = "#ffffff";
    ctx.stroke();
    ctx.setLineDash([]);
  }
}
