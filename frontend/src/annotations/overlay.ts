// The label overlay: canvases above the viewer, drawn in level-0 coordinates through the
// canvas transform. Each feature's polygons get a Path2D and a bounding box once; a
// class's polygons (one feature per polygon and grid cell) are filled as one path. Labels
// (and ROI outlines, on a second canvas) are rendered for the view plus a margin, filling
// only polygons whose box meets it; while panning, and stretched during zoom animations,
// the canvases are only moved with a CSS transform, so frame time does not grow with the
// number of strokes. Opacity is the labels canvas's CSS opacity.
//
// Labels are drawn filled, or as outlines (while a result is shown, so the result shows
// through): a class's polygons are filled into an offscreen mask, an eroded copy is cut
// out of it, and the ring that is left (the edge of the merged class shape, never the
// grid-cell seams between its pieces) is drawn at full opacity.

import { frameThrottle } from "../core/dom";
import type { SlideViewer } from "../viewer/slideViewer";
import type { ClassStore } from "./classStore";
import { bboxOf, intersects, polygonsOf, type BBox } from "./geometry";
import { cacheCovers, cacheRegion } from "./overlayCache";
import type { AnnotationModel } from "./model";
import { paintArea, strokeRoi, type StrokePreview } from "./strokes";
import type { AnnotationFeature } from "./types";

interface PreparedPart {
  bbox: BBox;
  path: Path2D;
}

interface PreparedFeature {
  kind: "label" | "roi";
  classId: number | null;
  bbox: BBox;
  parts: PreparedPart[];
}

/** Colour of a class the class list does not hold (yet). */
const FALLBACK_COLOR = "#808080";

/** Below this many screen px a polygon is drawn as its bounding box (it is a speck). */
const SPECK_PX = 1.5;

/** Width of a label outline in CSS px. */
const OUTLINE_PX = 2;

/** How labels are drawn: filled areas, only the edges of each class's shape, or not at all. */
export type LabelStyle = "filled" | "outline" | "hidden";

/** A scratch canvas for the outline pass. */
interface Scratch {
  canvas: HTMLCanvasElement;
  ctx: CanvasRenderingContext2D;
}

function scratch(): Scratch {
  const canvas = document.createElement("canvas");
  return { canvas, ctx: canvas.getContext("2d")! };
}

function prepare(feature: AnnotationFeature): PreparedFeature {
  const parts: PreparedPart[] = [];
  for (const polygon of polygonsOf(feature.geometry)) {
    if (!polygon.length || polygon[0].length < 3) continue;
    const path = new Path2D();
    for (const ring of polygon) {
      path.moveTo(ring[0][0], ring[0][1]);
      for (let i = 1; i < ring.length; i += 1) path.lineTo(ring[i][0], ring[i][1]);
      path.closePath();
    }
    parts.push({ bbox: bboxOf(polygon[0]), path });
  }
  const bbox: BBox = parts.length
    ? [
        Math.min(...parts.map((p) => p.bbox[0])),
        Math.min(...parts.map((p) => p.bbox[1])),
        Math.max(...parts.map((p) => p.bbox[2])),
        Math.max(...parts.map((p) => p.bbox[3])),
      ]
    : [0, 0, -1, -1];
  const props = feature.properties;
  return {
    kind: props.kind,
    classId: props.kind === "label" ? props.class_id : null,
    bbox,
    parts,
  };
}

/** One canvas layer holding a bitmap of level-0 `bounds` at `zoom` CSS px per level-0 px. */
class CachedLayer {
  readonly canvas: HTMLCanvasElement;
  readonly ctx: CanvasRenderingContext2D;

  constructor(stage: HTMLElement, className: string, testId: string) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = `layer-cached ${className}`;
    this.canvas.dataset.testid = testId;
    this.canvas.setAttribute("aria-hidden", "true");
    stage.appendChild(this.canvas);
    this.ctx = this.canvas.getContext("2d")!;
  }

  /** Resize (clearing it) and set the transform that maps level-0 px into the bitmap. */
  reset(width: number, height: number, dpr: number, bounds: BBox, scale: number): void {
    this.canvas.width = width;
    this.canvas.height = height;
    this.canvas.style.width = `${width / dpr}px`;
    this.canvas.style.height = `${height / dpr}px`;
    this.ctx.setTransform(scale, 0, 0, scale, -bounds[0] * scale, -bounds[1] * scale);
  }

  /** Place the bitmap on screen. */
  place(x: number, y: number, ratio: number): void {
    this.canvas.style.transform = `translate(${x}px, ${y}px) scale(${ratio})`;
  }
}

export class AnnotationOverlay {
  private readonly labels: CachedLayer;
  private readonly outlines: CachedLayer;
  private prepared = new Map<string, PreparedFeature>();
  private pending: StrokePreview[] = [];
  private opacityValue = 0.5;
  private shown = true;
  private style: LabelStyle = "filled";
  private readonly mask = scratch();
  private readonly eroded = scratch();
  private cacheBounds: BBox | null = null;
  private cacheZoom = 0;
  private cacheDpr = 1;
  private dirty = true;
  /** Polygons filled in the last render (for tests and the benchmark). */
  lastDrawnParts = 0;
  /** How many times the bitmaps were rendered, and how long the slowest took (benchmark). */
  renders = 0;
  slowestRenderMs = 0;
  readonly requestDraw: () => void;

  constructor(
    stage: HTMLElement,
    private readonly viewer: SlideViewer,
    private readonly model: AnnotationModel,
    private readonly classes: ClassStore,
  ) {
    this.labels = new CachedLayer(stage, "labels-layer", "labels-layer");
    this.outlines = new CachedLayer(stage, "outlines-layer", "outlines-layer");
    this.labels.canvas.style.opacity = String(this.opacityValue);
    this.requestDraw = frameThrottle(() => this.draw());
    model.subscribe((ids, all) => this.invalidate(ids, all));
    classes.subscribe(() => this.markDirty());
    // Placed in the viewer's own frame so labels and tiles move together.
    viewer.onViewChange(() => this.draw());
  }

  /** Annotation opacity, 0..1. */
  get opacity(): number {
    return this.opacityValue;
  }

  set opacity(value: number) {
    this.opacityValue = Math.min(1, Math.max(0, value));
    this.applyOpacity();
  }

  /**
   * Filled labels, outlines of each class's shape (drawn opaque: they are thin), or labels
   * hidden (ROIs stay); independent of `visible` (the A key).
   */
  get labelStyle(): LabelStyle {
    return this.style;
  }

  set labelStyle(value: LabelStyle) {
    if (value === this.style) return;
    this.style = value;
    this.labels.canvas.dataset.style = value;
    this.applyOpacity();
    this.markDirty();
  }

  private applyOpacity(): void {
    const opacity = this.style === "outline" ? 1 : this.opacityValue;
    this.labels.canvas.style.opacity = String(opacity);
  }

  /** Whether annotations are shown at all. */
  get visible(): boolean {
    return this.shown;
  }

  set visible(value: boolean) {
    this.shown = value;
    this.requestDraw();
  }

  /**
   * Strokes sent but not yet answered, drawn over the stored labels in order. New ones are
   * painted onto the bitmaps directly; a removal (the answer arrived) re-renders.
   */
  setPending(pending: StrokePreview[]): void {
    const previous = this.pending;
    this.pending = pending;
    const appended =
      pending.length >= previous.length && previous.every((p, i) => pending[i] === p);
    if (!appended || this.dirty || !this.cacheBounds) {
      this.markDirty();
      return;
    }
    for (const preview of pending.slice(previous.length)) this.paintPreview(preview);
    this.requestDraw();
  }

  private markDirty(): void {
    this.dirty = true;
    this.requestDraw();
  }

  private invalidate(ids: string[], all: boolean): void {
    if (all) this.prepared.clear();
    for (const id of ids) this.prepared.delete(id);
    this.markDirty();
  }

  private feature(id: string, feature: AnnotationFeature): PreparedFeature {
    let prepared = this.prepared.get(id);
    if (!prepared) {
      prepared = prepare(feature);
      this.prepared.set(id, prepared);
    }
    return prepared;
  }

  /** Bring the layers up to date with the view: move them, or re-render when needed. */
  draw(): void {
    const z = this.viewer.imageZoom();
    const show = this.shown && this.viewer.slide() !== null && z > 0;
    this.labels.canvas.hidden = !show || this.style === "hidden";
    // An empty layer still costs compositing on every frame: show outlines only when needed.
    this.outlines.canvas.hidden =
      !show || !(this.model.rois().length || this.pending.some((p) => p.tool === "roi"));
    if (!show) return;
    const dpr = window.devicePixelRatio || 1;
    const visible = this.viewer.visibleBounds();
    const reuse =
      !this.dirty &&
      this.cacheBounds !== null &&
      this.cacheDpr === dpr &&
      cacheCovers(this.cacheBounds, this.cacheZoom, visible, z, this.viewer.moving());
    if (!reuse) this.render(visible, z, dpr);
    this.place(z, dpr);
  }

  private place(z: number, dpr: number): void {
    const bounds = this.cacheBounds!;
    const ratio = z / this.cacheZoom;
    let [x, y] = this.viewer.toScreen(bounds[0], bounds[1]);
    if (Math.abs(ratio - 1) < 1e-9) {
      // Same scale: land on whole device pixels so the bitmap stays sharp.
      x = Math.round(x * dpr) / dpr;
      y = Math.round(y * dpr) / dpr;
    }
    this.labels.place(x, y, ratio);
    this.outlines.place(x, y, ratio);
  }

  /** Render labels, ROI outlines and pending strokes for the view plus a margin. */
  private render(visible: BBox, z: number, dpr: number): void {
    const started = performance.now();
    const scale = z * dpr;
    const region = cacheRegion(visible, scale);
    const bounds = region.bounds;
    this.labels.reset(region.width, region.height, dpr, bounds, scale);
    this.outlines.reset(region.width, region.height, dpr, bounds, scale);
    this.cacheBounds = bounds;
    this.cacheZoom = z;
    this.cacheDpr = dpr;
    this.dirty = false;
    this.renders += 1;
    const ctx = this.labels.ctx;
    const speck = SPECK_PX / z;
    let drawn = 0;
    // The server cuts a class into grid-cell polygons that share edges: filling all of a
    // class's polygons as one path rasterises each shared edge once, so no seam shows.
    const fills = new Map<number, Path2D>();
    const classBoxes = new Map<number, BBox>();
    for (const feature of this.model.all()) {
      const prepared = this.feature(String(feature.id), feature);
      if (!intersects(prepared.bbox, bounds)) continue;
      if (prepared.kind === "roi") {
        for (const part of prepared.parts) strokeRoi(this.outlines.ctx, part.path, z);
        continue;
      }
      const classId = prepared.classId;
      if (classId === null || this.classes.isHidden(classId)) continue;
      let path = fills.get(classId);
      if (!path) {
        path = new Path2D();
        fills.set(classId, path);
      }
      for (const part of prepared.parts) {
        if (!intersects(part.bbox, bounds)) continue;
        const [x0, y0, x1, y1] = part.bbox;
        if (x1 - x0 < speck && y1 - y0 < speck) {
          ctx.fillStyle = this.colorOf(classId);
          ctx.fillRect(x0, y0, speck, speck);
        } else {
          path.addPath(part.path);
          const box = classBoxes.get(classId);
          classBoxes.set(classId, box ? unionBox(box, part.bbox) : part.bbox);
        }
        drawn += 1;
      }
    }
    for (const [classId, path] of fills) {
      if (this.style === "outline") {
        this.outline(path, this.colorOf(classId), classBoxes.get(classId)!, dpr);
        continue;
      }
      ctx.fillStyle = this.colorOf(classId);
      ctx.fill(path, "evenodd");
    }
    this.lastDrawnParts = drawn;
    for (const preview of this.pending) this.paintPreview(preview);
    this.slowestRenderMs = Math.max(this.slowestRenderMs, performance.now() - started);
  }

  /**
   * Draw the edge of one class's shape: fill `path` into a mask (only the part of the
   * bitmap its box `box` covers), erode a copy by the outline width with eight shifted
   * intersections, cut the eroded copy out of the mask, and draw the ring that is left.
   * Where the shape leaves the rendered bitmap no edge is drawn.
   */
  private outline(path: Path2D, color: string, box: BBox, dpr: number): void {
    const ctx = this.labels.ctx;
    const m = ctx.getTransform();
    const { width, height } = this.labels.canvas;
    const px = Math.max(1, Math.round(OUTLINE_PX * dpr));
    const pad = px + 2;
    // The class's box in bitmap px, padded, inside the bitmap.
    const x0 = Math.max(0, Math.floor(box[0] * m.a + m.e) - pad);
    const y0 = Math.max(0, Math.floor(box[1] * m.d + m.f) - pad);
    const x1 = Math.min(width, Math.ceil(box[2] * m.a + m.e) + pad);
    const y1 = Math.min(height, Math.ceil(box[3] * m.d + m.f) + pad);
    const w = x1 - x0;
    const h = y1 - y0;
    if (w <= 0 || h <= 0) return;
    const mask = this.mask;
    const eroded = this.eroded;
    for (const s of [mask, eroded]) {
      if (s.canvas.width < w || s.canvas.height < h) {
        s.canvas.width = Math.max(w, s.canvas.width);
        s.canvas.height = Math.max(h, s.canvas.height);
      }
      s.ctx.setTransform(1, 0, 0, 1, 0, 0);
      s.ctx.globalCompositeOperation = "source-over";
      s.ctx.clearRect(0, 0, w + 1, h + 1);
    }
    mask.ctx.setTransform(m.a, 0, 0, m.d, m.e - x0, m.f - y0);
    mask.ctx.fillStyle = color;
    mask.ctx.fill(path, "evenodd");
    mask.ctx.setTransform(1, 0, 0, 1, 0, 0);

    const e = eroded.ctx;
    e.drawImage(mask.canvas, 0, 0, w, h, 0, 0, w, h);
    e.globalCompositeOperation = "destination-in";
    const d = Math.max(1, Math.round(px * 0.7));
    const shifts = [
      [px, 0],
      [-px, 0],
      [0, px],
      [0, -px],
      [d, d],
      [d, -d],
      [-d, d],
      [-d, -d],
    ];
    for (const [dx, dy] of shifts) e.drawImage(mask.canvas, 0, 0, w, h, dx, dy, w, h);
    // Along the bitmap's own edges the shape goes on: keep it whole there (no false edge).
    e.globalCompositeOperation = "source-over";
    e.save();
    e.beginPath();
    e.rect(0, 0, w, h);
    e.rect(px, px, w - 2 * px, h - 2 * px);
    e.clip("evenodd");
    e.drawImage(mask.canvas, 0, 0, w, h, 0, 0, w, h);
    e.restore();

    mask.ctx.globalCompositeOperation = "destination-out";
    mask.ctx.drawImage(eroded.canvas, 0, 0, w, h, 0, 0, w, h);
    mask.ctx.globalCompositeOperation = "source-over";
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(mask.canvas, 0, 0, w, h, x0, y0, w, h);
    ctx.restore();
  }

  private colorOf(classId: number): string {
    return this.classes.get(classId)?.color ?? this.model.classColor(classId) ?? FALLBACK_COLOR;
  }

  /**
   * Paint a sent stroke as the server will apply it: it takes its area from every label
   * (a pixel has one label), then brush and polygon fill it with their class colour.
   */
  private paintPreview(preview: StrokePreview): void {
    if (preview.tool === "roi") {
      strokeRoi(this.outlines.ctx, preview.points, this.cacheZoom);
      return;
    }
    const ctx = this.labels.ctx;
    ctx.save();
    ctx.globalCompositeOperation = "destination-out";
    ctx.strokeStyle = ctx.fillStyle = "#000";
    paintArea(ctx, preview);
    const hidden = preview.classId !== null && this.classes.isHidden(preview.classId);
    if (preview.tool !== "eraser" && !hidden) {
      ctx.globalCompositeOperation = "source-over";
      ctx.strokeStyle = ctx.fillStyle = preview.color;
      paintArea(ctx, preview);
    }
    ctx.restore();
  }
}

function unionBox(a: BBox, b: BBox): BBox {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}
