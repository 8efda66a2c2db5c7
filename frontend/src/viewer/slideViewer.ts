// The OpenSeadragon viewer and conversions between screen and level-0 slide pixels.
// Deep Zoom with limit_bounds starts at the slide's bounds offset, so image coordinates
// in OpenSeadragon are level-0 coordinates minus that offset.

import OpenSeadragon from "openseadragon";
import type { SlideSummary } from "../core/app";
import type { BBox, Position } from "../core/geometry";
import { baseMagnification } from "../core/magnification";
import { maxImageZoom } from "./magnification";

export interface SlideDetail extends SlideSummary {
  deepzoom?: { bounds: [number, number, number, number] | null };
}

export interface View {
  /** Centre in level-0 pixels. */
  x: number;
  y: number;
  /** CSS px per level-0 px. */
  z: number;
}

const WHEEL_STEP = 1.2;

export class SlideViewer {
  readonly osd: OpenSeadragon.Viewer;
  private current: SlideSummary | null = null;
  private offset: Position = [0, 0];
  private viewListeners = new Set<() => void>();

  constructor(
    readonly element: HTMLElement,
    navigatorId: string,
  ) {
    this.osd = OpenSeadragon({
      element,
      drawer: "canvas",
      showNavigationControl: false,
      showNavigator: true,
      navigatorId,
      navigatorAutoFade: false,
      animationTime: 0.4,
      blendTime: 0.1,
      minZoomImageRatio: 0.02,
      maxZoomPixelRatio: 4,
      visibilityRatio: 0.2,
      zoomPerScroll: WHEEL_STEP,
      immediateRender: false,
      crossOriginPolicy: false,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true, flickEnabled: false },
    });
    // Keyboard navigation is ours (see shortcuts), not OpenSeadragon's letter keys.
    this.osd.addHandler("canvas-key", (event) => {
      event.preventDefaultAction = true;
    });
    this.osd.addHandler("update-viewport", () => this.notifyView());
    this.osd.addHandler("resize", () => this.notifyView());
  }

  /** The open slide, or null. */
  slide(): SlideSummary | null {
    return this.current;
  }

  /** The slide's scan magnification (objective power, else 10 / µm-per-px). */
  baseMagnification(): number | null {
    return this.current ? baseMagnification(this.current) : null;
  }

  /** Open a slide's Deep Zoom pyramid; resolves when the pyramid is open (tiles still load). */
  open(slide: SlideDetail): Promise<void> {
    const bounds = slide.deepzoom?.bounds;
    this.offset = bounds ? [bounds[0], bounds[1]] : [0, 0];
    this.current = slide;
    return new Promise((resolve, reject) => {
      const onOpen = () => {
        this.osd.removeHandler("open-failed", onFail);
        // A view whose tiles all arrived may not move again: report it anyway.
        this.item()?.addHandler("fully-loaded-change", () => this.notifyView());
        this.osd.viewport.setMaxZoomPixelRatio(maxImageZoom(baseMagnification(slide)), false);
        resolve();
      };
      const onFail = (event: OpenSeadragon.OpenFailedEvent) => {
        this.osd.removeHandler("open", onOpen);
        this.current = null;
        reject(new Error(`The slide could not be opened: ${event.message}`));
      };
      this.osd.addOnceHandler("open", onOpen);
      this.osd.addOnceHandler("open-failed", onFail);
      this.osd.open(`/slides/${encodeURIComponent(slide.id)}.dzi`);
    });
  }

  /** Close the slide. */
  close(): void {
    this.current = null;
    this.osd.close();
    this.notifyView();
  }

  private item(): OpenSeadragon.TiledImage | null {
    return this.current ? (this.osd.world.getItemAt(0) ?? null) : null;
  }

  /** Whether every tile needed for the current view has been drawn. */
  tilesLoaded(): boolean {
    return this.item()?.getFullyLoaded() ?? false;
  }

  /** Whether a zoom or pan animation is running or about to start. */
  moving(): boolean {
    const viewport = this.osd.viewport;
    const now = viewport.getCenter(true);
    const target = viewport.getCenter(false);
    const animating = (this.osd as unknown as { isAnimating(): boolean }).isAnimating();
    return (
      animating ||
      viewport.getZoom(true) !== viewport.getZoom(false) ||
      now.x !== target.x ||
      now.y !== target.y
    );
  }

  /** Call `listener` whenever the view moves or the viewer is redrawn. */
  onViewChange(listener: () => void): () => void {
    this.viewListeners.add(listener);
    return () => this.viewListeners.delete(listener);
  }

  private notifyView(): void {
    for (const listener of this.viewListeners) listener();
  }

  /** CSS px per level-0 px right now (during animations too). */
  imageZoom(): number {
    const item = this.item();
    return item ? item.viewportToImageZoom(this.osd.viewport.getZoom(true)) : 0;
  }

  /** Level-0 position under a point of the viewer element (CSS px). */
  toImage(x: number, y: number): Position {
    const item = this.item();
    if (!item) return [0, 0];
    const p = item.viewerElementToImageCoordinates(new OpenSeadragon.Point(x, y));
    return [p.x + this.offset[0], p.y + this.offset[1]];
  }

  /** Viewer element position (CSS px) of a level-0 point. */
  toScreen(x: number, y: number): Position {
    const item = this.item();
    if (!item) return [0, 0];
    const p = item.imageToViewerElementCoordinates(
      new OpenSeadragon.Point(x - this.offset[0], y - this.offset[1]),
    );
    return [p.x, p.y];
  }

  /** Size of the viewer element in CSS px. */
  size(): [number, number] {
    return [this.element.clientWidth, this.element.clientHeight];
  }

  /** The level-0 box currently on screen. */
  visibleBounds(): BBox {
    const [w, h] = this.size();
    const [x0, y0] = this.toImage(0, 0);
    const [x1, y1] = this.toImage(w, h);
    return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
  }

  /** Centre and zoom, as the URL stores them. */
  view(): View | null {
    if (!this.item()) return null;
    const [w, h] = this.size();
    const [x, y] = this.toImage(w / 2, h / 2);
    return { x, y, z: this.imageZoom() };
  }

  /** Centre on a level-0 point at a zoom. */
  setView(view: View, immediately = false): void {
    const item = this.item();
    if (!item) return;
    const viewport = this.osd.viewport;
    viewport.zoomTo(item.imageToViewportZoom(view.z), undefined, immediately);
    const centre = item.imageToViewportCoordinates(
      view.x - this.offset[0],
      view.y - this.offset[1],
    );
    viewport.panTo(centre, immediately);
  }

  /** Zoom to `z` CSS px per level-0 px, keeping the centre. */
  zoomTo(z: number, immediately = false): void {
    const item = this.item();
    if (!item) return;
    this.osd.viewport.zoomTo(item.imageToViewportZoom(z), undefined, immediately);
  }

  /** Multiply the zoom by `factor` around a viewer element point (default: the centre). */
  zoomBy(factor: number, at?: Position): void {
    const viewport = this.osd.viewport;
    const ref = at ? viewport.pointFromPixel(new OpenSeadragon.Point(at[0], at[1])) : undefined;
    viewport.zoomBy(factor, ref);
    viewport.applyConstraints();
  }

  /** Move the view by a screen distance in CSS px. */
  panBy(dx: number, dy: number): void {
    const viewport = this.osd.viewport;
    viewport.panBy(viewport.deltaPointsFromPixels(new OpenSeadragon.Point(dx, dy)));
    viewport.applyConstraints();
  }

  /** Wheel zoom as OpenSeadragon does it, for layers that sit above it. */
  wheel(event: WheelEvent): void {
    const rect = this.element.getBoundingClientRect();
    const factor = event.deltaY < 0 ? WHEEL_STEP : 1 / WHEEL_STEP;
    this.zoomBy(factor, [event.clientX - rect.left, event.clientY - rect.top]);
  }

  /** Show the whole slide. */
  home(): void {
    this.osd.viewport.goHome();
  }
}
