// The Select tool's geometry, without the DOM: which vertex handles to show, finding the one
// under the pointer, moving a vertex of a GeoJSON polygon, and a point inside a polygon.

import type { PolygonCoords, Position } from "../types";

/** At most this many vertex handles are drawn; with more in view, zoom in to edit them. */
export const MAX_HANDLES = 500;

/** A handle grabs the pointer within this many screen px. */
export const HANDLE_GRAB_PX = 8;

/** A vertex of a polygon: ring (0 = outline, then holes) and index in that ring. */
export interface VertexRef {
  ring: number;
  index: number;
}

/** The connected shape of one class under a point (GET …/annotations/shape). */
export interface LabelShape {
  class_id: number;
  name: string | null;
  color: string | null;
  polygon: { type: "Polygon"; coordinates: PolygonCoords };
  area_px: number;
  area_um2: number | null;
  bounds: [number, number, number, number];
  vertices: number;
  version: number;
}

/**
 * The vertices whose handles are shown: those inside `view` ([x0, y0, x1, y1], level-0 px),
 * or none when more than `limit` are (too many to grab one at this zoom). A ring's closing
 * vertex (the same as its first) gets no handle of its own.
 */
export function visibleVertices(
  polygon: PolygonCoords,
  view: [number, number, number, number],
  limit = MAX_HANDLES,
): VertexRef[] {
  const out: VertexRef[] = [];
  for (let ring = 0; ring < polygon.length; ring += 1) {
    const points = polygon[ring];
    for (let index = 0; index < openLength(points); index += 1) {
      const [x, y] = points[index];
      if (x < view[0] || x > view[2] || y < view[1] || y > view[3]) continue;
      out.push({ ring, index });
      if (out.length > limit) return [];
    }
  }
  return out;
}

/** The handle nearest to `screen` within `grab` px, or null (`toScreen` maps level-0 px). */
export function handleAt(
  polygon: PolygonCoords,
  handles: VertexRef[],
  screen: Position,
  toScreen: (p: Position) => Position,
  grab = HANDLE_GRAB_PX,
): VertexRef | null {
  let best: VertexRef | null = null;
  let bestDistance = grab;
  for (const ref of handles) {
    const [sx, sy] = toScreen(polygon[ref.ring][ref.index]);
    const d = Math.hypot(sx - screen[0], sy - screen[1]);
    if (d <= bestDistance) {
      best = ref;
      bestDistance = d;
    }
  }
  return best;
}

/** A copy of `polygon` with one vertex at `to` (a ring's first and closing vertex move together). */
export function moveVertex(polygon: PolygonCoords, ref: VertexRef, to: Position): PolygonCoords {
  return polygon.map((points, ring) => {
    if (ring !== ref.ring) return points;
    const moved = points.map((p) => [p[0], p[1]] as Position);
    moved[ref.index] = [to[0], to[1]];
    const last = moved.length - 1;
    if (ref.index === 0 && last > 0 && closed(points)) moved[last] = [to[0], to[1]];
    return moved;
  });
}

/** Whether `p` lies inside the polygon (its outline, not in a hole; even-odd rule). */
export function containsPoint(polygon: PolygonCoords, p: Position): boolean {
  let inside = false;
  for (const ring of polygon) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) {
        inside = !inside;
      }
    }
  }
  return inside;
}

/**
 * A point inside the polygon to name it by after an edit: `preferred` when it still lies
 * inside, else the centroid of the outline or of a corner's triangle; null when none is.
 */
export function pointInside(polygon: PolygonCoords, preferred: Position): Position | null {
  if (containsPoint(polygon, preferred)) return preferred;
  const outline = polygon[0] ?? [];
  const n = openLength(outline);
  const candidates: Position[] = [];
  if (n) {
    const sx = outline.slice(0, n).reduce((s, p) => s + p[0], 0);
    const sy = outline.slice(0, n).reduce((s, p) => s + p[1], 0);
    candidates.push([sx / n, sy / n]);
  }
  for (let i = 0; i < n; i += 1) {
    const a = outline[(i + n - 1) % n];
    const b = outline[i];
    const c = outline[(i + 1) % n];
    candidates.push([(a[0] + b[0] + c[0]) / 3, (a[1] + b[1] + c[1]) / 3]);
  }
  return candidates.find((p) => containsPoint(polygon, p)) ?? null;
}

function closed(points: Position[]): boolean {
  const first = points[0];
  const last = points[points.length - 1];
  return points.length > 1 && first[0] === last[0] && first[1] === last[1];
}

/** The number of distinct vertices of a ring (without a closing repeat). */
function openLength(points: Position[]): number {
  return closed(points) ? points.length - 1 : points.length;
}
