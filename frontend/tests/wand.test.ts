import { describe, expect, it } from "vitest";
import type { Position } from "../src/annotations/types";
import {
  DEFAULT_TOLERANCE,
  WandState,
  clampTolerance,
  pointInRing,
  wandUrl,
  type WandAnswer,
} from "../src/annotations/tools/wandState";

const square: Position[] = [
  [0, 0],
  [10, 0],
  [10, 10],
  [0, 10],
];

/** A fetcher whose answers the test releases by hand, in any order. */
function manualFetcher() {
  const calls: { url: string; resolve: (a: WandAnswer) => void; reject: (e: unknown) => void }[] =
    [];
  const fetcher = (url: string) =>
    new Promise<WandAnswer>((resolve, reject) => calls.push({ url, resolve, reject }));
  return { calls, fetcher };
}

const answer = (size: number): WandAnswer => ({
  polygon: [
    [0, 0],
    [size, 0],
    [size, size],
    [0, size],
  ],
  area_px: size * size,
});

const seed = { slideId: "abc 1", point: [100.456, 20] as Position, downsample: 1 / 3 };

describe("magic wand geometry", () => {
  it("tells inside from outside, holes of a concave ring too", () => {
    expect(pointInRing([5, 5], square)).toBe(true);
    expect(pointInRing([15, 5], square)).toBe(false);
    expect(pointInRing([-0.1, 5], square)).toBe(false);
    const ell: Position[] = [
      [0, 0],
      [10, 0],
      [10, 4],
      [4, 4],
      [4, 10],
      [0, 10],
    ];
    expect(pointInRing([2, 8], ell)).toBe(true);
    expect(pointInRing([8, 8], ell)).toBe(false);
  });

  it("clamps the tolerance to whole numbers in 0..100", () => {
    expect(clampTolerance(-5)).toBe(0);
    expect(clampTolerance(150)).toBe(100);
    expect(clampTolerance(12.6)).toBe(13);
    expect(clampTolerance(Number.NaN)).toBe(DEFAULT_TOLERANCE);
  });

  it("builds the request URL with the zoom and tolerance", () => {
    const url = new URL(wandUrl(seed, 30), "http://x");
    expect(url.pathname).toBe("/api/slides/abc%201/wand");
    expect(url.searchParams.get("x")).toBe("100.46");
    expect(url.searchParams.get("y")).toBe("20");
    expect(Number(url.searchParams.get("downsample"))).toBeCloseTo(1 / 3, 5);
    expect(url.searchParams.get("tolerance")).toBe("30");
  });
});

describe("magic wand state", () => {
  it("asks for the latest tolerance once the answer on its way is in", async () => {
    const { calls, fetcher } = manualFetcher();
    let changes = 0;
    const state = new WandState(fetcher, () => (changes += 1));
    const first = state.start(seed);
    await state.setTolerance(30);
    await state.setTolerance(40); // a slider dragged on: only the last value is asked
    expect(calls).toHaveLength(1);
    expect(state.pending).toBe(true);
    calls[0].resolve(answer(5));
    await Promise.resolve();
    await Promise.resolve();
    expect(calls).toHaveLength(2);
    expect(calls[1].url).toContain("tolerance=40");
    expect(state.outline?.area_px).toBe(25); // the older outline stays until the new one
    expect(state.outlineTolerance).toBe(20);
    expect(state.pending).toBe(true);
    calls[1].resolve(answer(20));
    await first;
    expect(state.outline?.area_px).toBe(400);
    expect(state.outlineTolerance).toBe(40);
    expect(state.pending).toBe(false);
    expect(state.contains([10, 10])).toBe(true);
    expect(state.contains([30, 10])).toBe(false);
    expect(changes).toBeGreaterThan(0);
  });

  it("hands the outline over once and forgets the click", async () => {
    const { calls, fetcher } = manualFetcher();
    const state = new WandState(fetcher, () => undefined);
    const done = state.start(seed);
    calls[0].resolve(answer(3));
    await done;
    expect(state.take()).toHaveLength(4);
    expect(state.active()).toBe(false);
    expect(state.take()).toBeNull();
  });

  it("a new click does not wait for the answer on its way, which is dropped", async () => {
    const { calls, fetcher } = manualFetcher();
    const state = new WandState(fetcher, () => undefined);
    const first = state.start(seed);
    const second = state.start({ ...seed, point: [5, 5] });
    expect(calls).toHaveLength(2);
    calls[1].resolve(answer(20));
    await second;
    calls[0].resolve(answer(5));
    await first;
    expect(state.outline?.area_px).toBe(400);
    expect(state.seed?.point).toEqual([5, 5]);
  });

  it("drops answers that come after a cancel, and reports errors", async () => {
    const { calls, fetcher } = manualFetcher();
    const errors: unknown[] = [];
    const state = new WandState(
      fetcher,
      () => undefined,
      (e) => errors.push(e),
    );
    const cancelled = state.start(seed);
    state.cancel();
    calls[0].resolve(answer(3));
    await cancelled;
    expect(state.outline).toBeNull();
    const failed = state.start(seed);
    calls[1].reject(new Error("outside"));
    await failed;
    expect(errors).toHaveLength(1);
    expect(state.active()).toBe(false);
  });

  it("changing the tolerance without a click only stores it", async () => {
    const { calls, fetcher } = manualFetcher();
    const state = new WandState(fetcher, () => undefined);
    await state.setTolerance(55);
    expect(state.tolerance).toBe(55);
    expect(calls).toHaveLength(0);
  });
});
