// Where to apply an app: the current view, an ROI, the whole slide (tissue) or many slides.

import type { Rect } from "../core/geometry";

export type Region = "tissue" | "whole" | { roi_id: string | number } | { bbox: Rect };

export type RegionChoice = "view" | "roi" | "slide" | "slides";

export interface RegionInput {
  choice: RegionChoice;
  /** Whole-slide choices: restrict to detected tissue (default) or everything. */
  tissueOnly: boolean;
  roiId?: string | number | null;
  /** The visible box for "view". */
  bbox?: Rect | null;
}

/** The `region` of an inference request, or a message saying what is missing. */
export function buildRegion(input: RegionInput): { region: Region } | { error: string } {
  switch (input.choice) {
    case "view":
      return input.bbox
        ? { region: { bbox: input.bbox } }
        : { error: "Open a slide and show some of it first." };
    case "roi":
      return input.roiId !== undefined && input.roiId !== null && input.roiId !== ""
        ? { region: { roi_id: input.roiId } }
        : { error: "Draw a region of interest first, then choose it." };
    case "slide":
    case "slides":
      return { region: input.tissueOnly ? "tissue" : "whole" };
  }
}
