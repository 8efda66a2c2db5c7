import { describe, expect, it } from "vitest";
import {
  bboxOf,
  enclosesArea,
  geometryArea,
  inflate,
  intersects,
  polygonArea,
  rectangleCorners,
  roundPoints,
  thinPoints,
} from "../src/annotations/geometry";
import type { Position } from "../src/annotations/types";

describe("geometry", () => {
  const square: Position[] = [
    [0, 0],
    [10, 0],
    [10, 10],
    [0, 10],
  ];

  it("computes bounding boxes and overlap", () => {
    expect(bboxOf(square)).toEqual([0, 0, 10, 10]);
    expect(intersects([0, 0, 10, 10], [10, 10, 20, 20])).toBe(true);
    expect(intersects([0, 0, 10, 10], [10.1, 0, 20, 20])).toBe(false);
    expect(inflate([0, 0, 1, 1], 2)).toEqual([-2, -2, 3, 3]);
  });

  it("measures polygons with holes and multipolygons", () => {
    const hole: Position[] = [
      [2, 2],
      [4, 2],
      [4, 4],
      [2, 4],
    ];
    expect(polygonArea([square, hole])).toBe(96);
    expect(
      geometryArea({
        type: "MultiPolygon",
        coordinates: [[square], [square.map(([x, y]) => [x + 20, y] as Position)]],
      }),
    ).toBe(200);
  });

  it("orders rectangle corners whatever the drag direction", () => {
    expect(rectangleCorners([10, 20], [0, 5])).toEqual([
      [0, 5],
      [10, 5],
      [10, 20],
      [0, 20],
    ]);
  });

  it("thins points but keeps both ends", () => {
    const line: Position[] = Array.from({ length: 101 }, (_, i) => [i * 0.1, 0]);
    const thinned = thinPoints(line, 1);
    expect(thinned[0]).toEqual([0, 0]);
    expect(thinned[thinned.length - 1]).toEqual([10, 0]);
    expect(thinned.length).toBeLessThanOrEqual(12);
    expect(thinPoints([[1, 1]], 5)).toEqual([[1, 1]]);
  });

  it("rounds coordinates to 1/100 px", () => {
    expect(roundPoints([[1.23456, 2.98765]])).toEqual([[1.23, 2.99]]);
  });

  it("knows when points enclose an area", () => {
    expect(enclosesArea(square)).toBe(true);
    expect(
      enclosesArea([
        [0, 0],
        [1, 1],
        [2, 2],
      ]),
    ).toBe(false);
    expect(enclosesArea(square.slice(0, 2))).toBe(false);
  });
});
