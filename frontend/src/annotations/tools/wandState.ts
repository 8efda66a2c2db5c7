// The magic wand's state without the page: the click, the tolerance, the outline the server
// answered, and which answer is still current (older answers that arrive late are dropped).

import type { Position } from "../types";

export const DEFAULT_TOLERANCE = 20;
export const MIN_TOLERANCE = 0;
export const MAX_TOLERANCE = 100;
/** How much one Alt+wheel notch or one +/- press moves the tolerance. */
export const TOLERANCE_STEP = 2;

/** The server's answer: one outer ring in level-0 px and its area in level-0 px². */
export interface WandAnswer {
  polygon: Position[];
  area_px: number;
}

/** Where the wand was clicked: the slide, the level-0 point and the zoom it was seen at. */
export interface WandSeed {
  slideId: string;
  point: Position;
  /** Level-0 px per screen px when clicked. */
  downsample: number;
}

/** A tolerance moved into 0..100, in whole steps. */
export function clampTolerance(value: number): number {
  if (!Number.isFinite(value)) return DEFAULT_TOLERANCE;
  return Math.round(Math.min(MAX_TOLERANCE, Math.max(MIN_TOLERANCE, value)));
}

/** The wand request's URL for a seed and a tolerance. */
export function wandUrl(seed: WandSeed, tolerance: number): string {
  const params = new URLSearchParams({
    x: String(Math.round(seed.point[0] * 100) / 100),
    y: String(Math.round(seed.point[1] * 100) / 100),
    downsample: String(Number(seed.downsample.toPrecision(6))),
    tolerance: String(tolerance),
  });
  return `/api/slides/${encodeURIComponent(seed.slideId)}/wand?${params}`;
}

/** Whether `point` lies inside the ring (even-odd rule; the ring need not be closed). */
export function pointInRing(point: Position, ring: Position[]): boolean {
  const [x, y] = point;
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export type WandFetcher = (url: string) => Promise<WandAnswer>;

/**
 * The wand's outline in progress. `start` asks the server at once (a new click); while an
 * answer is on its way, tolerance changes wait and only the latest is asked next (a slider
 * dragged across sends a handful of requests, not one per step). Only answers for the
 * current click and tolerance are kept. `onChange` is called when the outline, the pending
 * state or the tolerance changes; `onError` with a failed request's error.
 */
export class WandState {
  seed: WandSeed | null = null;
  outline: WandAnswer | null = null;
  /** The tolerance the outline shown was drawn at. */
  outlineTolerance = DEFAULT_TOLERANCE;
  pending = false;
  private toleranceValue = DEFAULT_TOLERANCE;
  private requestId = 0;
  /** A tolerance change waits for the answer on its way. */
  private queued = false;

  constructor(
    private readonly fetcher: WandFetcher,
    private readonly onChange: () => void,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  get tolerance(): number {
    return this.toleranceValue;
  }

  /** An outline is shown or on its way. */
  active(): boolean {
    return this.seed !== null;
  }

  /** A new click: drop the old outline and ask for the new one. */
  start(seed: WandSeed): Promise<void> {
    this.seed = seed;
    this.outline = null;
    return this.request();
  }

  /** Change the tolerance; the outline of the current click follows. */
  setTolerance(value: number): Promise<void> {
    const next = clampTolerance(value);
    if (next === this.toleranceValue) return Promise.resolve();
    this.toleranceValue = next;
    if (!this.seed) {
      this.onChange();
      return Promise.resolve();
    }
    if (this.pending) {
      this.queued = true;
      this.onChange();
      return Promise.resolve();
    }
    return this.request();
  }

  /** Whether a level-0 point lies inside the outline shown. */
  contains(point: Position): boolean {
    return this.outline !== null && pointInRing(point, this.outline.polygon);
  }

  /** Hand over the outline shown (to commit it) and forget the click; null when none. */
  take(): Position[] | null {
    const outline = this.outline?.polygon ?? null;
    this.cancel();
    return outline;
  }

  /** Forget the click and its outline; answers still on their way are dropped. */
  cancel(): void {
    const had = this.seed !== null || this.outline !== null || this.pending;
    this.requestId += 1;
    this.seed = null;
    this.outline = null;
    this.pending = false;
    this.queued = false;
    if (had) this.onChange();
  }

  private async request(): Promise<void> {
    const seed = this.seed;
    if (!seed) return;
    const id = ++this.requestId;
    this.pending = true;
    this.queued = false;
    this.onChange();
    try {
      const tolerance = this.toleranceValue;
      const answer = await this.fetcher(wandUrl(seed, tolerance));
      if (id !== this.requestId) return;
      this.outline = answer;
      this.outlineTolerance = tolerance;
    } catch (error) {
      if (id !== this.requestId) return;
      this.seed = null;
      this.outline = null;
      this.onError(error);
    } finally {
      if (id === this.requestId) {
        this.pending = false;
        this.onChange();
      }
    }
    // The tolerance moved while this answer was on its way: ask for the latest now.
    if (id === this.requestId && this.queued && this.seed) await this.request();
  }
}
