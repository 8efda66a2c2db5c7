// The ink layer: a canvas over the viewer on which the shape in progress is drawn live.

import { h } from "../../core/dom";
import type { SlideViewer } from "../../viewer/slideViewer";
import { rectangleCorners } from "../geometry";
import { ROI_COLOR, paintArea, strokeRoi, tracePolyline } from "../strokes";
import type { Position } from "../types";
import type { Drag } from "./gestures";
import { resetLayer } from "./layer";

const ERASER_INK = "rgba(255, 255, 255, 0.6)";

/** What is drawn: the gesture in progress and how it looks. */
export interface InkScene {
  drag: Drag | null;
  vertices: Position[];
  /** The pointer in screen px (the polygon's next vertex follows it), or null. */
  hover: Position | null;
  eraser: boolean;
  roiPolygon: boolean;
  brushRadiusPx: number;
  color: string;
  alpha: number;
}

export class InkLayer {
  /** The canvas; it also receives the pointer events of the drawing tools. */
  readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    stage: HTMLElement,
    private readonly viewer: SlideViewer,
  ) {
    this.canvas = h("canvas", {
      class: "layer ink-layer",
      "data-testid": "ink-layer",
      "aria-label": "Drawing surface",
    });
    this.ctx = this.canvas.getContext("2d")!;
    stage.append(this.canvas);
  }

  /** Draw the gesture in progress (clears the layer first). */
  draw(scene: InkScene): void {
    const dpr = resetLayer(this.canvas, this.ctx, this.viewer);
    const ctx = this.ctx;
    const z = this.viewer.imageZoom();
    if (!(z > 0)) return;
    const [ox, oy] = this.viewer.toScreen(0, 0);
    ctx.setTransform(z * dpr, 0, 0, z * dpr, ox * dpr, oy * dpr);
    const { drag, color, alpha } = scene;
    if (drag?.kind === "stroke") {
      ctx.globalAlpha = scene.eraser ? 1 : alpha;
      ctx.strokeStyle = scene.eraser ? ERASER_INK : color;
      paintArea(ctx, {
        tool: "brush",
        classId: null,
        color,
        points: drag.points,
        radius: scene.brushRadiusPx / z,
      });
    } else if (drag?.kind === "lasso" && drag.points.length > 1) {
      ctx.globalAlpha = alpha;
      ctx.fillStyle = color;
      paintArea(ctx, { tool: "polygon", classId: null, color, points: drag.points, radius: 0 });
    } else if (drag?.kind === "rect") {
      strokeRoi(ctx, rectangleCorners(drag.points[0], drag.points[1]), z);
    }
    if (scene.vertices.length) this.drawVertices(scene, z);
    ctx.globalAlpha = 1;
  }

  /** A polygon in progress: its area (painting polygons), edges to the pointer, vertices. */
  private drawVertices(scene: InkScene, z: number): void {
    const ctx = this.ctx;
    const roi = scene.roiPolygon;
    const hover = scene.hover ? this.viewer.toImage(scene.hover[0], scene.hover[1]) : null;
    const points = hover ? [...scene.vertices, hover] : scene.vertices;
    if (!roi && points.length >= 3) {
      ctx.globalAlpha = scene.alpha;
      ctx.fillStyle = scene.color;
      paintArea(ctx, { tool: "polygon", classId: null, color: scene.color, points, radius: 0 });
    }
    ctx.globalAlpha = 1;
    ctx.lineWidth = 1.5 / z;
    ctx.setLineDash(roi ? [8 / z, 5 / z] : []);
    ctx.strokeStyle = roi ? ROI_COLOR : "#ffffff";
    tracePolyline(ctx, points);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#ffffff";
    for (const [x, y] of scene.vertices) {
      ctx.beginPath();
      ctx.arc(x, y, 3 / z, 0, Math.PI * 2);
      ctx.fill();
    }
  }
}
