// The drawing tools there are, their keys, and what they need from the rest of the app.

import type { IconName } from "../../core/icons";
import type { SlideViewer } from "../../viewer/slideViewer";
import type { ClassStore } from "../classStore";
import type { StrokePreview } from "../strokes";
import type { EditRequest } from "../types";

export type ToolName =
  "pan" | "select" | "brush" | "eraser" | "polygon" | "lasso" | "wand" | "roi-rect" | "roi-polygon";

export interface ToolInfo {
  name: ToolName;
  icon: IconName;
  title: string;
  key: string;
}

export const TOOLS: ToolInfo[] = [
  { name: "pan", icon: "pan", title: "Pan (H)", key: "h" },
  {
    name: "select",
    icon: "select",
    title: "Select a label: drag its vertices, Delete removes it, a class recolors it (V)",
    key: "v",
  },
  { name: "brush", icon: "brush", title: "Brush (B)", key: "b" },
  { name: "eraser", icon: "eraser", title: "Eraser (E)", key: "e" },
  {
    name: "polygon",
    icon: "polygon",
    title: "Polygon: click vertices, double-click or Enter closes (P)",
    key: "p",
  },
  { name: "lasso", icon: "lasso", title: "Freehand lasso (L)", key: "l" },
  {
    name: "wand",
    icon: "wand",
    title: "Magic wand: click an area of similar colour; Enter or a click inside adds it (W)",
    key: "w",
  },
  { name: "roi-rect", icon: "roi-rect", title: "Region of interest: rectangle (R)", key: "r" },
  { name: "roi-polygon", icon: "roi-polygon", title: "Region of interest: polygon (O)", key: "o" },
];

/** The tools that paint the active class (they need one). */
export const PAINT_TOOLS: ReadonlySet<ToolName> = new Set(["brush", "polygon", "lasso", "wand"]);

/** Brush radius bounds in screen px. */
export const MIN_BRUSH_PX = 1;
export const MAX_BRUSH_PX = 250;

/** What the tools need from the rest of the app. */
export interface ToolHost {
  viewer: SlideViewer;
  classes: ClassStore;
  /** Why this tool cannot edit now (no slide, no class), or null. */
  blocked(tool: ToolName): string | null;
  /** Send an edit; `preview` is drawn until the server answers. */
  commit(edit: EditRequest, preview: StrokePreview): void;
  /** Tell the user something (e.g. why a click did nothing). */
  notify(message: string): void;
  /** Annotation opacity 0..1 for the live stroke. */
  opacity(): number;
}
