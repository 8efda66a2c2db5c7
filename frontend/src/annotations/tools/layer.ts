// Canvases laid over the viewer (the ink, the selection, the wand's outline).

import type { SlideViewer } from "../../viewer/slideViewer";

/**
 * Match a layer's canvas to the viewer's size in device pixels and clear it; returns the
 * pixel ratio the drawing is scaled by.
 */
export function resetLayer(
  canvas: HTMLCanvasElement,
  ctx: CanvasRenderingContext2D,
  viewer: Pick<SlideViewer, "size">,
): number {
  const dpr = window.devicePixelRatio || 1;
  const [w, h] = viewer.size();
  const width = Math.round(w * dpr);
  const height = Math.round(h * dpr);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return dpr;
}
