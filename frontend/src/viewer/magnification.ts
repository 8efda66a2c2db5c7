// Zoom math: "M×" shows image pixels at (M / objective power) screen px per image px.
// The magnification convention itself is in core/magnification.ts.

/** The magnifications offered as one-click buttons. */
export const PRESET_MAGNIFICATIONS = [1, 5, 10, 20, 40] as const;

/** Screen px per image px that shows the slide at `magnification`. */
export function imageZoomFor(magnification: number, base: number): number {
  return magnification / base;
}

/** The magnification shown at `imageZoom` screen px per image px. */
export function magnificationAt(imageZoom: number, base: number): number {
  return imageZoom * base;
}

/** The most over-zoom (screen px per image px) the viewer allows, so 40× is always reachable. */
export function maxImageZoom(base: number | null): number {
  const needed = base ? Math.max(...PRESET_MAGNIFICATIONS) / base : 1;
  return Math.max(4, needed * 1.25);
}
