// The shared shapes and the context every panel receives when it is mounted.

import type OpenSeadragon from "openseadragon";
import type { Socket } from "socket.io-client";
import type { Bus } from "./events";

export interface SlideSummary {
  id: string;
  name: string;
  path: string;
  readable: boolean;
  error: string | null;
  width: number | null;
  height: number | null;
  mpp: number | null;
  objective_power: number | null;
  vendor: string | null;
  levels: number | null;
}

export interface LabelClass {
  id: number;
  name: string;
  color: string;
  /** Display order (0-based); the label mask value is position + 1. */
  position?: number;
}

/** A region of interest drawn on the open slide (level-0 pixels). */
export interface RoiInfo {
  id: number;
  /** [x, y, width, height] of its bounding box. */
  bbox: [number, number, number, number];
}

export interface AppEvents extends Record<string, unknown> {
  /** A slide was opened in the viewer (its tiles are loading). */
  "slide:opened": SlideSummary;
  /** The label classes changed (added, renamed, recoloured, reordered, deleted). */
  "classes:changed": LabelClass[];
  /** Annotations of a slide changed (local or remote edit). */
  "annotations:changed": { slideId: string };
  /** Apps were added (a run finished), renamed, imported or deleted. */
  "apps:changed": { appId?: string | null };
  /** A result's overlay was put on the slide (its id) or taken off (null). */
  "result:shown": { resultId: string | null };
  /** Show the tissue a "tissue" region takes in at a sensitivity (0–1), or hide it (null). */
  "tissue:preview": { sensitivity: number | null };
  /** The live preview was recomputed with the run's latest weights (its result id). */
  "preview:updated": { resultId: string };
}

export interface AppContext {
  bus: Bus<AppEvents>;
  socket: Socket;
  /** The slide open in the viewer, or null. */
  currentSlide(): SlideSummary | null;
  /** The OpenSeadragon viewer (null before the first slide opens). */
  viewer(): OpenSeadragon.Viewer | null;
  /** The label classes, in display order. */
  classes(): LabelClass[];
  /** The regions of interest drawn on the open slide. */
  rois(): RoiInfo[];
  /** Visible part of the open slide as [x, y, width, height] in level-0 pixels, or null. */
  visibleRegion(): [number, number, number, number] | null;
}
