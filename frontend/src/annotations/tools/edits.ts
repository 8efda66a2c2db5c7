// Turning a finished gesture into an edit in level-0 pixels, and sending it with its preview.

import { bboxOf, enclosesArea, inflate, intersects, roundPoints, thinPoints } from "../geometry";
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
  if (outsideSlide(host, points, radius)) {
    host.notify("That stroke is outside the slide: nothing was painted.");
    return;
  }
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
  if (outsideSlide(host, points, 0)) {
    host.notify("That shape is outside the slide: nothing was painted.");
    return;
  }
  commitEdit(host, tool, tool === "polygon", { tool, points: roundPoints(points) });
}

/** Whether the points, grown by `margin`, miss the open slide altogether (the server
 * would clip the shape to nothing). */
function outsideSlide(host: ToolHost, points: Position[], margin: number): boolean {
  const slide = host.viewer.slide();
  if (!slide?.width || !slide.height || points.length === 0) return false;
  return !intersects(inflate(bboxOf(points), margin), [0, 0, slide.width, slide.height]);
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
