// The drawing tools: pointer input over the viewer, the live stroke on an "ink" canvas,
// the brush cursor, and turning a finished gesture into an edit in level-0 pixels.

import { frameThrottle } from "../core/dom";
import type { IconName } from "../core/icons";
import type { SlideViewer } from "../viewer/slideViewer";
import type { ClassStore } from "./classStore";
import { distance, enclosesArea, rectangleCorners, roundPoints, thinPoints } from "./geometry";
import { ROI_COLOR, paintArea, strokeRoi, tracePolyline, type StrokePreview } from "./strokes";
import type { EditRequest, EditTool, Position } from "./types";

export type ToolName =
  | "pan"
  | "brush"
  | "eraser"
  | "polygon"
  | "lasso"
  | "roi-rect"
  | "roi-polygon";

export interface ToolInfo {
  name: ToolName;
  icon: IconName;
  title: string;
  key: string;
}

export const TOOLS: ToolInfo[] = [
  { name: "pan", icon: "pan", title: "Pan (V)", key: "v" },
  { name: "brush", icon: "brush", title: "Brush (B)", key: "b" },
  { name: "eraser", icon: "eraser", title: "Eraser (E)", key: "e" },
  {
    name: "polygon",
    icon: "polygon",
    title: "Polygon: click vertices, double-click or Enter closes (P)",
    key: "p",
  },
  { name: "lasso", icon: "lasso", title: "Freehand lasso (L)", key: "l" },
  { name: "roi-rect", icon: "roi-rect", title: "Region of interest: rectangle (R)", key: "r" },
  { name: "roi-polygon", icon: "roi-polygon", title: "Region of interest: polygon (O)", key: "o" },
];

/** What the tools need from the rest of the app. */
export interface ToolHost {
  viewer: SlideViewer;
  classes: ClassStore;
  /** Why this tool cannot edit now (no slide, no class), or null. */
  blocked(tool: ToolName): string | null;
  /** Send an edit; `preview` is drawn until the server answers. */
  commit(edit: EditRequest, preview: StrokePreview): void;
  /** Tell the user something (e.g. why a click did nothing). */
  notify(message: string): void;
  /** Annotation opacity 0..1 for the live stroke. */
  opacity(): number;
}

interface Drag {
  kind: "stroke" | "lasso" | "rect" | "pan";
  pointerId: number;
  points: Position[];
  lastScreen: Position;
}

export const MIN_BRUSH_PX = 1;
export const MAX_BRUSH_PX = 250;
const ERASER_INK = "rgba(255, 255, 255, 0.6)";
const CLOSE_RADIUS_PX = 8;
const DUPLICATE_PX = 3;
const MAX_POINTS = 40_000;

export class ToolController {
  readonly ink: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly cursor: HTMLElement;
  private toolName: ToolName = "pan";
  private brushRadiusPx = 16;
  private drag: Drag | null = null;
  private vertices: Position[] = [];
  private hover: Position | null = null;
  private spaceHeld = false;
  private listeners = new Set<() => void>();
  private readonly requestInk: () => void;

  constructor(
    private readonly stage: HTMLElement,
    private readonly host: ToolHost,
  ) {
    this.ink = document.createElement("canvas");
    this.ink.className = "layer ink-layer";
    this.ink.dataset.testid = "ink-layer";
    this.ink.setAttribute("aria-label", "Drawing surface");
    this.ctx = this.ink.getContext("2d")!;
    this.cursor = document.createElement("div");
    this.cursor.className = "brush-cursor";
    this.cursor.dataset.testid = "brush-cursor";
    this.cursor.hidden = true;
    stage.append(this.ink, this.cursor);
    this.requestInk = frameThrottle(() => this.drawInk());
    this.listen();
    host.viewer.onViewChange(() => {
      if (this.drag || this.vertices.length) this.drawInk();
      this.placeCursor();
    });
    this.applyMode();
  }

  /** The active tool. */
  get tool(): ToolName {
    return this.toolName;
  }

  /** Brush/eraser radius in screen px. */
  get brushSize(): number {
    return this.brushRadiusPx;
  }

  /** Call `listener` when the tool or brush size changes. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Switch tool (drops a half-drawn shape). */
  setTool(name: ToolName): void {
    this.cancel();
    this.toolName = name;
    this.applyMode();
    this.notify();
  }

  /** Set the brush radius in screen px. */
  setBrushSize(px: number): void {
    this.brushRadiusPx = Math.round(Math.min(MAX_BRUSH_PX, Math.max(MIN_BRUSH_PX, px)));
    this.placeCursor();
    this.notify();
  }

  /** Grow (factor > 1) or shrink the brush, for the [ and ] keys. */
  scaleBrush(factor: number): void {
    const next = this.brushRadiusPx * factor;
    // Always change by at least one pixel, so small brushes can grow and shrink too.
    const current = this.brushRadiusPx;
    this.setBrushSize(factor > 1 ? Math.max(next, current + 1) : Math.min(next, current - 1));
  }

  /** Hold space to pan with any tool. */
  setSpaceHeld(held: boolean): void {
    if (this.spaceHeld === held) return;
    this.spaceHeld = held;
    this.applyMode();
  }

  /** Keys that act on a shape in progress; true when the key was used. */
  handleKey(key: string): boolean {
    if (key === "Escape" && (this.drag || this.vertices.length)) {
      this.cancel();
      return true;
    }
    if (key === "Enter" && this.vertices.length) {
      this.closePolygon();
      return true;
    }
    if (key === "Backspace" && this.vertices.length) {
      this.vertices.pop();
      this.requestInk();
      return true;
    }
    return false;
  }

  /** Drop any gesture in progress. */
  cancel(): void {
    this.drag = null;
    this.vertices = [];
    this.requestInk();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  private drawing(): boolean {
    return this.toolName !== "pan" && !this.spaceHeld;
  }

  private applyMode(): void {
    this.stage.dataset.tool = this.spaceHeld ? "pan" : this.toolName;
    this.ink.style.pointerEvents = this.drawing() ? "auto" : "none";
    this.updateInkVisibility();
    this.placeCursor();
  }

  /** The ink canvas is needed by drawing tools and shapes in progress; else it is hidden. */
  private updateInkVisibility(): void {
    this.ink.hidden = !this.drawing() && !this.drag && !this.vertices.length;
  }

  private screenPoint(event: PointerEvent | MouseEvent): Position {
    const rect = this.ink.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  private listen(): void {
    const ink = this.ink;
    ink.addEventListener("pointerdown", (e) => this.onDown(e));
    ink.addEventListener("pointermove", (e) => this.onMove(e));
    ink.addEventListener("pointerup", (e) => this.onUp(e));
    ink.addEventListener("pointercancel", () => {
      this.drag = null;
      this.requestInk();
    });
    ink.addEventListener("pointerleave", () => {
      this.hover = null;
      this.placeCursor();
    });
    ink.addEventListener("dblclick", (e) => {
      e.preventDefault();
      this.closePolygon();
    });
    ink.addEventListener("contextmenu", (e) => e.preventDefault());
    ink.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        this.host.viewer.wheel(e);
      },
      { passive: false },
    );
  }

  private onDown(event: PointerEvent): void {
    // Keys typed next (Enter, Escape, shortcuts) are meant for the drawing, not a control.
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    const screen = this.screenPoint(event);
    if (event.button === 1) {
      event.preventDefault();
      this.startDrag("pan", event, screen, []);
      return;
    }
    if (event.button !== 0) return;
    const reason = this.host.blocked(this.toolName);
    if (reason) {
      this.host.notify(reason);
      return;
    }
    const point = this.host.viewer.toImage(screen[0], screen[1]);
    switch (this.toolName) {
      case "brush":
      case "eraser":
        this.startDrag("stroke", event, screen, [point]);
        break;
      case "lasso":
        this.startDrag("lasso", event, screen, [point]);
        break;
      case "roi-rect":
        this.startDrag("rect", event, screen, [point, point]);
        break;
      case "polygon":
      case "roi-polygon":
        this.addVertex(point, screen);
        break;
      default:
        break;
    }
    this.requestInk();
  }

  private startDrag(kind: Drag["kind"], event: PointerEvent, screen: Position, points: Position[]) {
    this.drag = { kind, pointerId: event.pointerId, points, lastScreen: screen };
    this.ink.setPointerCapture(event.pointerId);
  }

  private onMove(event: PointerEvent): void {
    this.hover = this.screenPoint(event);
    this.placeCursor();
    const drag = this.drag;
    if (!drag || drag.pointerId !== event.pointerId) {
      if (this.vertices.length) this.requestInk();
      return;
    }
    const events = event.getCoalescedEvents?.() ?? [];
    for (const e of events.length ? events : [event]) {
      const screen = this.screenPoint(e);
      if (drag.kind === "pan") {
        this.host.viewer.panBy(drag.lastScreen[0] - screen[0], drag.lastScreen[1] - screen[1]);
        drag.lastScreen = screen;
        continue;
      }
      const point = this.host.viewer.toImage(screen[0], screen[1]);
      if (drag.kind === "rect") drag.points[1] = point;
      else if (distance(screen, drag.lastScreen) >= 0.75) {
        drag.points.push(point);
        drag.lastScreen = screen;
      }
    }
    this.requestInk();
  }

  private onUp(event: PointerEvent): void {
    const drag = this.drag;
    if (!drag || drag.pointerId !== event.pointerId) return;
    this.drag = null;
    if (this.ink.hasPointerCapture(event.pointerId)) {
      this.ink.releasePointerCapture(event.pointerId);
    }
    const z = this.host.viewer.imageZoom();
    if (drag.kind === "stroke") {
      const point = this.host.viewer.toImage(...this.screenPoint(event));
      if (distance(point, drag.points[drag.points.length - 1]) > 0) drag.points.push(point);
      this.commitStroke(drag.points, z);
    } else if (drag.kind === "lasso") {
      this.commitPolygon("polygon", thinPoints(drag.points, 1 / z));
    } else if (drag.kind === "rect") {
      const [a, b] = drag.points;
      if (Math.abs(a[0] - b[0]) * z >= 2 && Math.abs(a[1] - b[1]) * z >= 2) {
        this.commitPolygon("roi", rectangleCorners(a, b));
      }
    }
    this.requestInk();
  }

  private addVertex(point: Position, screen: Position): void {
    const z = this.host.viewer.imageZoom();
    const toScreen = (p: Position) => this.host.viewer.toScreen(p[0], p[1]);
    const nearFirst =
      this.vertices.length >= 3 && distance(toScreen(this.vertices[0]), screen) <= CLOSE_RADIUS_PX;
    if (nearFirst) {
      this.closePolygon();
      return;
    }
    const last = this.vertices[this.vertices.length - 1];
    if (last && distance(last, point) * z < DUPLICATE_PX) return;
    this.vertices.push(point);
  }

  private closePolygon(): void {
    if (!this.vertices.length) return;
    const tool = this.toolName === "roi-polygon" ? "roi" : "polygon";
    const points = this.vertices;
    this.vertices = [];
    if (points.length < 3) {
      this.host.notify("A polygon needs at least three points");
    } else {
      this.commitPolygon(tool, points);
    }
    this.requestInk();
  }

  private commitStroke(points: Position[], z: number): void {
    const tool = this.toolName === "eraser" ? "eraser" : "brush";
    const radius = this.brushRadiusPx / z;
    let step = 1 / z;
    let thinned = thinPoints(points, step);
    while (thinned.length > MAX_POINTS) {
      step *= 2;
      thinned = thinPoints(points, step);
    }
    this.commitEdit(tool, tool === "brush", { tool, points: roundPoints(thinned), radius });
  }

  private commitPolygon(tool: "polygon" | "roi", points: Position[]): void {
    if (!enclosesArea(points)) {
      if (tool === "roi" || points.length >= 3) this.host.notify("That shape encloses no area");
      return;
    }
    this.commitEdit(tool, tool === "polygon", { tool, points: roundPoints(points) });
  }

  /** Send an edit (with the active class when the tool paints one) and preview it. */
  private commitEdit(tool: EditTool, paintsClass: boolean, edit: EditRequest): void {
    const cls = paintsClass ? this.host.classes.activeClass() : null;
    if (paintsClass && !cls) return;
    if (cls) edit.class_id = cls.id;
    this.host.commit(edit, {
      tool,
      classId: cls?.id ?? null,
      color: cls?.color ?? "#000",
      points: edit.points,
      radius: edit.radius ?? 0,
    });
  }

  private placeCursor(): void {
    const show =
      this.drawing() &&
      (this.toolName === "brush" || this.toolName === "eraser") &&
      this.hover !== null;
    this.cursor.hidden = !show;
    if (!show || !this.hover) return;
    const r = this.brushRadiusPx;
    this.cursor.style.width = this.cursor.style.height = `${2 * r}px`;
    this.cursor.style.transform = `translate(${this.hover[0] - r}px, ${this.hover[1] - r}px)`;
    this.cursor.classList.toggle("eraser", this.toolName === "eraser");
  }

  private resizeInk(): number {
    const dpr = window.devicePixelRatio || 1;
    const [w, h] = this.host.viewer.size();
    const width = Math.round(w * dpr);
    const height = Math.round(h * dpr);
    if (this.ink.width !== width || this.ink.height !== height) {
      this.ink.width = width;
      this.ink.height = height;
    }
    return dpr;
  }

  /** Draw the gesture in progress. */
  private drawInk(): void {
    const dpr = this.resizeInk();
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.ink.width, this.ink.height);
    const z = this.host.viewer.imageZoom();
    if (!(z > 0)) return;
    const [ox, oy] = this.host.viewer.toScreen(0, 0);
    ctx.setTransform(z * dpr, 0, 0, z * dpr, ox * dpr, oy * dpr);
    const color = this.host.classes.activeClass()?.color ?? "#ffffff";
    const alpha = Math.max(this.host.opacity(), 0.35);
    const drag = this.drag;
    if (drag?.kind === "stroke") {
      const eraser = this.toolName === "eraser";
      ctx.globalAlpha = eraser ? 1 : alpha;
      ctx.strokeStyle = eraser ? ERASER_INK : color;
      paintArea(ctx, {
        tool: "brush",
        classId: null,
        color,
        points: drag.points,
        radius: this.brushRadiusPx / z,
      });
    } else if (drag?.kind === "lasso" && drag.points.length > 1) {
      ctx.globalAlpha = alpha;
      ctx.fillStyle = color;
      paintArea(ctx, { tool: "polygon", classId: null, color, points: drag.points, radius: 0 });
    } else if (drag?.kind === "rect") {
      strokeRoi(ctx, rectangleCorners(drag.points[0], drag.points[1]), z);
    }
    if (this.vertices.length) this.drawVertices(ctx, z, color, alpha);
    ctx.globalAlpha = 1;
  }

  private drawVertices(ctx: CanvasRenderingContext2D, z: number, color: string, alpha: number) {
    const roi = this.toolName === "roi-polygon";
    const hover = this.hover ? this.host.viewer.toImage(this.hover[0], this.hover[1]) : null;
    const points = hover ? [...this.vertices, hover] : this.vertices;
    if (!roi && points.length >= 3) {
      ctx.globalAlpha = alpha;
      ctx.fillStyle = color;
      paintArea(ctx, { tool: "polygon", classId: null, color, points, radius: 0 });
    }
    ctx.globalAlpha = 1;
    ctx.lineWidth = 1.5 / z;
    ctx.setLineDash(roi ? [8 / z, 5 / z] : []);
    ctx.strokeStyle = roi ? ROI_COLOR : "#ffffff";
    tracePolyline(ctx, points);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#ffffff";
    for (const [x, y] of this.vertices) {
      ctx.beginPath();
      ctx.arc(x, y, 3 / z, 0, Math.PI * 2);
      ctx.fill();
    }
  }
}
