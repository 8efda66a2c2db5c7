import { describe, expect, it } from "vitest";
import {
  containsPoint,
  handleAt,
  moveVertex,
  pointInside,
  visibleVertices,
} from "../src/annotations/tools/selectState";
import type { PolygonCoords, Position } from "../src/annotations/types";

const square: PolygonCoords = [
  [
    [0, 0],
    [100, 0],
    [100, 100],
    [0, 100],
    [0, 0],
  ],
  [
    [40, 40],
    [60, 40],
    [60, 60],
    [40, 60],
    [40, 40],
  ],
];

describe("select tool geometry", () => {
  it("shows handles for the vertices in view, none when there are too many", () => {
    expect(visibleVertices(square, [-1, -1, 200, 200])).toHaveLength(8); // no closing repeats
    expect(visibleVertices(square, [50, -1, 200, 200])).toEqual([
      { ring: 0, index: 1 },
      { ring: 0, index: 2 },
      { ring: 1, index: 1 },
      { ring: 1, index: 2 },
    ]);
    expect(visibleVertices(square, [-1, -1, 200, 200], 7)).toEqual([]);
  });

  it("grabs the nearest handle within reach", () => {
    const handles = visibleVertices(square, [-1, -1, 200, 200]);
    const identity = (p: Position) => p;
    expect(handleAt(square, handles, [97, 4], identity)).toEqual({ ring: 0, index: 1 });
    expect(handleAt(square, handles, [50, 50], identity)).toBeNull();
  });

  it("moves a vertex, the closing one with the first", () => {
    const moved = moveVertex(square, { ring: 0, index: 0 }, [-10, -20]);
    expect(moved[0][0]).toEqual([-10, -20]);
    expect(moved[0][4]).toEqual([-10, -20]);
    expect(moved[1]).toBe(square[1]);
    expect(square[0][0]).toEqual([0, 0]); // the original is left alone
  });

  it("knows inside from holes and finds a point inside after an edit", () => {
    expect(containsPoint(square, [10, 10])).toBe(true);
    expect(containsPoint(square, [50, 50])).toBe(false);
    expect(containsPoint(square, [150, 50])).toBe(false);
    expect(pointInside(square, [10, 10])).toEqual([10, 10]);
    const found = pointInside(square, [50, 50])!;
    expect(containsPoint(square, found)).toBe(true);
  });
});
