// Shapes of slide geometry in level-0 pixels, shared by the viewer and the panels.

import type { AppContext } from "./app";

/** A point `[x, y]`. */
export type Position = [number, number];

/** A bounding box `[x0, y0, x1, y1]`. */
export type BBox = [number, number, number, number];

/** A box `[x, y, width, height]`, as the server's `bbox` fields are written. */
export type Rect = [number, number, number, number];

/** A rectangle in OpenSeadragon viewport coordinates. */
export interface ViewportRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The level-0 pixel box `[x, y, w, h]` visible in a viewport rectangle, for a slide shown
 * with width 1 in viewport coordinates (OpenSeadragon's default: both axes scale by the
 * image width); clamped to the image, null when nothing of the slide is visible.
 */
export function bboxFromViewport(rect: ViewportRect, width: number, height: number): Rect | null {
  const clamp = (v: number, max: number) => Math.min(Math.max(v, 0), max);
  const x0 = Math.floor(clamp(rect.x * width, width));
  const y0 = Math.floor(clamp(rect.y * width, height));
  const x1 = Math.ceil(clamp((rect.x + rect.width) * width, width));
  const y1 = Math.ceil(clamp((rect.y + rect.height) * width, height));
  if (x1 - x0 < 1 || y1 - y0 < 1) return null;
  return [x0, y0, x1 - x0, y1 - y0];
}

/** The visible part of the open slide in level-0 pixels, or null when none is shown. */
export function visibleBox(app: AppContext): Rect | null {
  const fromApp = app.visibleRegion();
  if (fromApp) return fromApp;
  const viewer = app.viewer();
  const slide = app.currentSlide();
  if (!viewer || !slide?.width || !slide.height) return null;
  return bboxFromViewport(viewer.viewport.getBounds(true), slide.width, slide.height);
}
