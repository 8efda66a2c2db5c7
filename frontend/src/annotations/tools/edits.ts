// Turning a finished gesture into an edit in level-0 pixels, and sending it with its preview.

import { enclosesArea, roundPoints, thinPoints } from "../geometry";
import type { EditRequest, EditTool, Position } from "../types";
import type { ToolHost } from "./catalog";

/** The most points one stroke sends; longer strokes are thinned further. */
const MAX_POINTS = 40_000;

/** Send a brush or eraser stroke of `radiusPx` screen px drawn at image zoom `z`. */
export function commitStroke(
  host: ToolHost,
  tool: "brush" | "eraser",
  points: Position[],
  radiusPx: number,
  z: number,
): void {
  const radius = radiusPx / z;
  let step = 1 / z;
  let thinned = thinPoints(points, step);
  while (thinned.length > MAX_POINTS) {
    step *= 2;
    thinned = thinPoints(points, step);
  }
  commitEdit(host, tool, tool === "brush", { tool, points: roundPoints(thinned), radius });
}

/** Send a painted polygon or an ROI; says so when the shape encloses no area. */
export function commitPolygon(host: ToolHost, tool: "polygon" | "roi", points: Position[]): void {
  if (!enclosesArea(points)) {
    if (tool === "roi" || points.length >= 3) host.notify("That shape encloses no area");
    return;
  }
  commitEdit(host, tool, tool === "polygon", { tool, points: roundPoints(points) });
}

/** Send an edit (with the active class when the tool paints one) and preview it. */
function commitEdit(host: ToolHost, tool: EditTool, paintsClass: boolean, edit: EditRequest): void {
  const cls = paintsClass ? host.classes.activeClass() : null;
  if (paintsClass && !cls) return;
  if (cls) edit.class_id = cls.id;
  host.commit(edit, {
    tool,
    classId: cls?.id ?? null,
    color: cls?.color ?? "#000",
    points: edit.points,
    radius: edit.radius ?? 0,
  });
}
