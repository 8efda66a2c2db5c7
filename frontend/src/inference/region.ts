// Where to apply an app: the current view, an ROI, the whole slide (tissue) or many slides.

import type { RoiInfo } from "../core/app";
import { formatBoxSize } from "../core/format";
import type { Rect } from "../core/geometry";

export type Region =
  | "tissue"
  | "whole"
  | { tissue: { sensitivity: number } }
  | { roi_id: string | number }
  | { bbox: Rect };

/** The tissue detection's default sensitivity (server/inference/regions.py). */
export const DEFAULT_TISSUE_SENSITIVITY = 0.5;

export type RegionChoice = "view" | "roi" | "slide" | "slides";

export interface RegionInput {
  choice: RegionChoice;
  /** Whole-slide choices: restrict to detected tissue (default) or everything. */
  tissueOnly: boolean;
  /** Tissue detection sensitivity 0–1 (default 0.5). */
  sensitivity?: number;
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
      if (!input.tissueOnly) return { region: "whole" };
      return { region: tissueRegion(input.sensitivity ?? DEFAULT_TISSUE_SENSITIVITY) };
  }
}

/** The "tissue" region at a sensitivity (plain "tissue" at the default). */
export function tissueRegion(sensitivity: number): Region {
  const s = Math.round(sensitivity * 100) / 100;
  return s === DEFAULT_TISSUE_SENSITIVITY ? "tissue" : { tissue: { sensitivity: s } };
}

/**
 * A result's region in words: "view 404 × 404 µm", "ROI 2 (404 × 404 µm)", "whole slide
 * (tissue)", "whole slide"; `rois` are the open slide's (numbered in their order).
 */
export function regionText(region: unknown, rois: readonly RoiInfo[], mpp: number | null): string {
  if (region === "tissue") return "whole slide (tissue)";
  if (region === "whole") return "whole slide";
  if (region && typeof region === "object") {
    const r = region as {
      bbox?: number[];
      roi_id?: string | number;
      tissue?: { sensitivity?: number };
    };
    if (r.tissue) {
      const s = r.tissue.sensitivity ?? DEFAULT_TISSUE_SENSITIVITY;
      return `whole slide (tissue, sensitivity ${Math.round(s * 100)} %)`;
    }
    if (Array.isArray(r.bbox) && r.bbox.length === 4)
      return `view ${formatBoxSize(r.bbox[2], r.bbox[3], mpp)}`;
    if (r.roi_id !== undefined) {
      const at = rois.findIndex((roi) => String(roi.id) === String(r.roi_id));
      if (at < 0) return "an ROI (since deleted)";
      const box = rois[at].bbox;
      return `ROI ${at + 1} (${formatBoxSize(box[2], box[3], mpp)})`;
    }
  }
  return "region";
}
