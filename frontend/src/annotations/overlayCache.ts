// Where the cached label bitmap lies and when it can be reused.

import type { BBox } from "./geometry";

/** Extra area around the view, as a fraction of its size on each side, for panning. */
export const CACHE_MARGIN = 0.5;
/** Largest cached bitmap, in device pixels (about 64 MB of RGBA). */
export const CACHE_MAX_PIXELS = 16_000_000;
/** Canvas side limit that every browser accepts. */
export const CACHE_MAX_SIDE = 8192;
/** While zooming, a cached bitmap is stretched at most this much before re-rendering. */
export const ANIMATION_STRETCH = 2;

export interface CacheRegion {
  /** Level-0 box the bitmap covers. */
  bounds: BBox;
  /** Bitmap size in device pixels. */
  width: number;
  height: number;
}

/**
 * The region to render for a view: the visible box grown by up to CACHE_MARGIN on each
 * side, shrunk so the bitmap (at `scale` device px per level-0 px) stays within limits.
 */
export function cacheRegion(visible: BBox, scale: number): CacheRegion {
  const w = visible[2] - visible[0];
  const h = visible[3] - visible[1];
  let margin = CACHE_MARGIN;
  for (;;) {
    const width = Math.ceil(w * (1 + 2 * margin) * scale);
    const height = Math.ceil(h * (1 + 2 * margin) * scale);
    const fits =
      width * height <= CACHE_MAX_PIXELS && width <= CACHE_MAX_SIDE && height <= CACHE_MAX_SIDE;
    if (fits || margin === 0) {
      const bounds: BBox = [
        visible[0] - margin * w,
        visible[1] - margin * h,
        visible[0] - margin * w + width / scale,
        visible[1] - margin * h + height / scale,
      ];
      return {
        bounds,
        width: Math.min(width, CACHE_MAX_SIDE),
        height: Math.min(height, CACHE_MAX_SIDE),
      };
    }
    margin = margin > 0.05 ? margin / 2 : 0;
  }
}

/**
 * Whether a bitmap rendered over `bounds` at zoom `cacheZoom` can show the `visible` box at
 * zoom `zoom`: it must cover the box, and be at the same zoom (or, while the view is
 * animating, within a stretch factor, re-rendered sharp once the view settles).
 */
export function cacheCovers(
  bounds: BBox,
  cacheZoom: number,
  visible: BBox,
  zoom: number,
  moving: boolean,
): boolean {
  const covers =
    bounds[0] <= visible[0] &&
    bounds[1] <= visible[1] &&
    bounds[2] >= visible[2] &&
    bounds[3] >= visible[3];
  if (!covers) return false;
  const ratio = zoom / cacheZoom;
  if (Math.abs(ratio - 1) < 1e-9) return true;
  return moving && ratio <= ANIMATION_STRETCH && ratio >= 1 / ANIMATION_STRETCH;
}
