// Where to apply an app: the current view, an ROI, the whole slide (tissue) or many slides.

export type Bbox = [number, number, number, number];
export type Region = "tissue" | "whole" | { roi_id: string | number } | { bbox: Bbox };

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
export function bboxFromViewport(rect: ViewportRect, width: number, height: number): Bbox | null {
  const clamp = (v: number, max: number) => Math.min(Math.max(v, 0), max);
  const x0 = Math.floor(clamp(rect.x * width, width));
  const y0 = Math.floor(clamp(rect.y * width, height));
  const x1 = Math.ceil(clamp((rect.x + rect.width) * width, width));
  const y1 = Math.ceil(clamp((rect.y + rect.height) * width, height));
  if (x1 - x0 < 1 || y1 - y0 < 1) return null;
  return [x0, y0, x1 - x0, y1 - y0];
}

export type RegionChoice = "view" | "roi" | "slide" | "slides";

export interface RegionInput {
  choice: RegionChoice;
  /** Whole-slide choices: restrict to detected tissue (default) or everything. */
  tissueOnly: boolean;
  roiId?: string | number | null;
  /** The visible box for "view". */
  bbox?: Bbox | null;
}

/** The `region` of an inference request, or a message saying what is missing. */
export function buildRegion(input: RegionInput): { region: Region } | { error: string } {
  switch (input.choice) {
    case "view":
      return input.bbox ? { region: { bbox: input.bbox } } : { error: "Open a slide and show some of it first." };
    case "roi":
      return input.roiId !== undefined && input.roiId !== null && input.roiId !== ""
        ? { region: { roi_id: input.roiId } }
        : { error: "Draw a region of interest first, then choose it." };
    case "slide":
    case "slides":
      return { region: input.tissueOnly ? "tissue" : "whole" };
  }
}
