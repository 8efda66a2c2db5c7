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
}

export interface AppEvents extends Record<string, unknown> {
  /** A slide was opened in the viewer (its tiles are loading). */
  "slide:opened": SlideSummary;
  /** The label classes changed (added, renamed, recoloured, reordered, deleted). */
  "classes:changed": LabelClass[];
  /** Annotations of a slide changed (local or remote edit). */
  "annotations:changed": { slideId: string };
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
}
