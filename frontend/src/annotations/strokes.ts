// Drawing strokes and shapes in level-0 coordinates on a canvas whose transform maps
// level-0 pixels to the screen (scale `z` CSS px per level-0 px).

import type { Position } from "./types";

export interface StrokePreview {
  tool: "brush" | "eraser" | "polygon" | "roi";
  /** The class painted (brush, polygon), else null. */
  classId: number | null;
  color: string;
  points: Position[];
  /** Brush or eraser radius in level-0 px. */
  radius: number;
}

export const ROI_COLOR = "#ffd43b";

/** Trace a polyline (or a single dot) into the context's current path. */
export function tracePolyline(ctx: CanvasRenderingContext2D, points: Position[]): void {
  ctx.beginPath();
  ctx.moveTo(points[0][0], points[0][1]);
  if (points.length === 1) ctx.lineTo(points[0][0] + 1e-3, points[0][1]);
  for (let i = 1; i < points.length; i += 1) ctx.lineTo(points[i][0], points[i][1]);
}

/** Trace a closed polygon into the context's current path. */
export function tracePolygon(ctx: CanvasRenderingContext2D, points: Position[]): void {
  tracePolyline(ctx, points);
  ctx.closePath();
}

/** Paint the area a stroke covers (brush/eraser: round-capped thick line; polygon: fill). */
export function paintArea(ctx: CanvasRenderingContext2D, preview: StrokePreview): void {
  if (!preview.points.length) return;
  if (preview.tool === "brush" || preview.tool === "eraser") {
    ctx.lineWidth = preview.radius * 2;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    tracePolyline(ctx, preview.points);
    ctx.stroke();
  } else {
    tracePolygon(ctx, preview.points);
    ctx.fill("evenodd");
  }
}

/** A dashed ROI outline whose line stays `widthPx` screen px thick at zoom `z`. */
export function strokeRoi(
  ctx: CanvasRenderingContext2D,
  path: Path2D | Position[],
  z: number,
  widthPx = 2,
): void {
  ctx.save();
  ctx.globalAlpha = 1;
  ctx.globalCompositeOperation = "source-over";
  ctx.lineWidth = widthPx / z;
  ctx.setLineDash([8 / z, 5 / z]);
  ctx.strokeStyle = ROI_COLOR;
  ctx.lineJoin = "miter";
  if (Array.isArray(path)) {
    tracePolygon(ctx, path);
    ctx.stroke();
  } else {
    ctx.stroke(path);
  }
  ctx.restore();
}
