import { describe, expect, it } from "vitest";
import {
  CACHE_MAX_PIXELS,
  CACHE_MAX_SIDE,
  cacheCovers,
  cacheRegion,
} from "../src/annotations/overlayCache";

describe("label bitmap cache", () => {
  it("covers the view plus a margin for panning", () => {
    const region = cacheRegion([1000, 1000, 2000, 1500], 0.5);
    expect(region.bounds[0]).toBeCloseTo(500);
    expect(region.bounds[1]).toBeCloseTo(750);
    expect(region.bounds[2]).toBeGreaterThanOrEqual(2500);
    expect(region.bounds[3]).toBeGreaterThanOrEqual(1750);
    expect(region.width).toBe(1000);
    expect(region.height).toBe(500);
  });

  it("shrinks the margin to stay within the pixel budget", () => {
    const region = cacheRegion([0, 0, 3000, 2000], 1.5); // a 4500 × 3000 view
    expect(region.width * region.height).toBeLessThanOrEqual(CACHE_MAX_PIXELS);
    expect(region.width).toBeLessThanOrEqual(CACHE_MAX_SIDE);
    expect(region.bounds[0]).toBeLessThanOrEqual(0);
    expect(region.bounds[2]).toBeGreaterThanOrEqual(3000);
  });

  it("is reused only at the same zoom, or stretched while animating", () => {
    const bounds: [number, number, number, number] = [0, 0, 100, 100];
    expect(cacheCovers(bounds, 1, [10, 10, 90, 90], 1, false)).toBe(true);
    expect(cacheCovers(bounds, 1, [10, 10, 110, 90], 1, false)).toBe(false);
    expect(cacheCovers(bounds, 1, [10, 10, 90, 90], 1.5, false)).toBe(false);
    expect(cacheCovers(bounds, 1, [10, 10, 90, 90], 1.5, true)).toBe(true);
    expect(cacheCovers(bounds, 1, [10, 10, 90, 90], 3, true)).toBe(false);
  });
});
