// Geometry helpers for drawing: bounding boxes, culling, areas, point thinning.

import type { BBox } from "../core/geometry";
import type { Geometry, PolygonCoords, Position, Ring } from "./types";

/** [minX, minY, maxX, maxY] (defined in core/geometry). */
export type { BBox };

/** The polygons of a Polygon or MultiPolygon. */
export function polygonsOf(geometry: Geometry): PolygonCoords[] {
  return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
}

/** The outer ring of a Polygon, or of the first polygon of a MultiPolygon. */
export function outerRing(feature: { geometry: Geometry }): Ring {
  const g = feature.geometry;
  return (g.type === "Polygon" ? g.coordinates[0] : g.coordinates[0]?.[0]) ?? [];
}

/** The bounding box of some points. */
export function bboxOf(points: Iterable<Position>): BBox {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [x, y] of points) {
    if (x < minX) minX = x;
    if (y < minY) minY = y;
    if (x > maxX) maxX = x;
    if (y > maxY) maxY = y;
  }
  return [minX, minY, maxX, maxY];
}

/** Whether two boxes overlap (touching counts). */
export function intersects(a: BBox, b: BBox): boolean {
  return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3];
}

/** The box grown by `margin` on every side. */
export function inflate(box: BBox, margin: number): BBox {
  return [box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin];
}

/** Signed shoelace area of a ring (positive when counter-clockwise in y-up axes). */
export function ringArea(ring: Ring): number {
  let sum = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    sum += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
  }
  return sum / 2;
}

/** Area of a polygon with holes. */
export function polygonArea(polygon: PolygonCoords): number {
  if (polygon.length === 0) return 0;
  let area = Math.abs(ringArea(polygon[0]));
  for (const hole of polygon.slice(1)) area -= Math.abs(ringArea(hole));
  return area;
}

/** Area of a Polygon or MultiPolygon in px². */
export function geometryArea(geometry: Geometry): number {
  return polygonsOf(geometry).reduce((sum, p) => sum + polygonArea(p), 0);
}

/** The four corners of the rectangle spanned by two opposite corners, clockwise from top-left. */
export function rectangleCorners(a: Position, b: Position): Position[] {
  const [x0, x1] = a[0] <= b[0] ? [a[0], b[0]] : [b[0], a[0]];
  const [y0, y1] = a[1] <= b[1] ? [a[1], b[1]] : [b[1], a[1]];
  return [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ];
}

/** Euclidean distance. */
export function distance(a: Position, b: Position): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/**
 * Drop points closer than `minStep` to the previously kept one (the last point is always
 * kept), so a slow stroke does not send thousands of near-duplicates.
 */
export function thinPoints(points: Position[], minStep: number): Position[] {
  if (points.length <= 2) return points.slice();
  const kept: Position[] = [points[0]];
  for (let i = 1; i < points.length - 1; i += 1) {
    if (distance(points[i], kept[kept.length - 1]) >= minStep) kept.push(points[i]);
  }
  const last = points[points.length - 1];
  if (distance(last, kept[kept.length - 1]) > 0 || kept.length === 1) kept.push(last);
  return kept;
}

/** Round coordinates to 1/100 px: plenty for level-0 pixels and a smaller request. */
export function roundPoints(points: Position[]): Position[] {
  return points.map(([x, y]) => [Math.round(x * 100) / 100, Math.round(y * 100) / 100]);
}

/** Whether a polygon's points enclose any area (at least 3 distinct, non-collinear). */
export function enclosesArea(points: Position[]): boolean {
  return points.length >= 3 && Math.abs(ringArea(points)) > 1e-9;
}
