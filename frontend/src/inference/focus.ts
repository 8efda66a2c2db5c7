// Flying the viewer to a level-0 box and outlining it: a rectangle over the slide that
// stays (following pans and zooms) until the next box is shown or the slide changes.

import { h } from "../core/dom";
import type { Rect } from "../core/geometry";
import type { SlideViewer } from "../viewer/slideViewer";

/** How much of the viewer the box fills after the flight (the rest is context). */
const FILL = 0.6;

/** Where to look to see `rect` whole: its centre and a zoom (CSS px per level-0 px). */
export function viewForBox(
  rect: Rect,
  viewSize: [number, number],
  maxZoom = Infinity,
): { x: number; y: number; z: number } {
  const [x, y, w, h] = rect;
  const [vw, vh] = viewSize;
  const fit = Math.min(vw / Math.max(w, 1), vh / Math.max(h, 1)) * FILL;
  return { x: x + w / 2, y: y + h / 2, z: Math.min(fit, maxZoom) };
}

/** What the panels need: show a box (fly there, outline it) or take the outline away. */
export interface Focus {
  show(rect: Rect): void;
  clear(): void;
}

/** The outline as a box in the viewer stage, placed through the viewer on every change. */
export class FocusBox implements Focus {
  private readonly box: HTMLElement;
  private rect: Rect | null = null;

  constructor(
    stage: HTMLElement,
    private readonly viewer: SlideViewer,
  ) {
    this.box = h("div", { class: "inf-focus-box", "data-testid": "focus-box", hidden: true });
    stage.append(this.box);
    viewer.onViewChange(() => this.place());
  }

  /** Fly to `rect` (level-0 [x, y, w, h]) and outline it. */
  show(rect: Rect): void {
    this.rect = rect;
    this.box.dataset.rect = rect.join(",");
    this.viewer.setView(viewForBox(rect, this.viewer.size()));
    this.place();
  }

  /** Take the outline away. */
  clear(): void {
    this.rect = null;
    this.box.dataset.rect = "";
    this.box.hidden = true;
  }

  private place(): void {
    const rect = this.rect;
    if (!rect || !this.viewer.slide()) {
      this.box.hidden = true;
      return;
    }
    const [x0, y0] = this.viewer.toScreen(rect[0], rect[1]);
    const [x1, y1] = this.viewer.toScreen(rect[0] + rect[2], rect[1] + rect[3]);
    this.box.hidden = false;
    this.box.style.transform = `translate(${x0}px, ${y0}px)`;
    this.box.style.width = `${Math.max(1, x1 - x0)}px`;
    this.box.style.height = `${Math.max(1, y1 - y0)}px`;
  }
}
