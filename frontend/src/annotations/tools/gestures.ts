// Pointer gestures over the drawing surface: drags (stroke, lasso, rectangle, middle-button
// pan) and polygon vertices, in level-0 pixels. What a finished gesture becomes is the
// caller's business (`GestureHandlers`); drawing it is the ink layer's.

import type { SlideViewer } from "../../viewer/slideViewer";
import { distance, rectangleCorners, thinPoints } from "../geometry";
import type { Position } from "../types";
import type { ToolName } from "./catalog";

export interface Drag {
  kind: "stroke" | "lasso" | "rect" | "pan";
  pointerId: number;
  points: Position[];
  lastScreen: Position;
}

/** What the gestures report to their owner. */
export interface GestureHandlers {
  /** The active tool. */
  tool(): ToolName;
  /** Why the tool cannot edit now, or null. */
  blocked(tool: ToolName): string | null;
  /** Tell the user something. */
  notify(message: string): void;
  /** A brush or eraser stroke ended (points in level-0 px, drawn at image zoom `z`). */
  stroke(points: Position[], z: number): void;
  /** A magic wand click at a level-0 point. */
  wand(point: Position): void;
  /** A lasso, rectangle ROI or polygon closed. */
  polygon(tool: "polygon" | "roi", points: Position[]): void;
  /** The shape in progress changed: redraw it. */
  changed(): void;
  /** The pointer moved over the surface or left it. */
  hovered(): void;
}

const CLOSE_RADIUS_PX = 8;
const DUPLICATE_PX = 3;

export class Gestures {
  /** The drag in progress, if any. */
  drag: Drag | null = null;
  /** The vertices of a polygon in progress. */
  vertices: Position[] = [];
  /** The pointer over the surface in screen px, or null. */
  hover: Position | null = null;

  constructor(
    private readonly surface: HTMLElement,
    private readonly viewer: SlideViewer,
    private readonly on: GestureHandlers,
  ) {
    this.listen();
  }

  /** A shape is in progress. */
  active(): boolean {
    return this.drag !== null || this.vertices.length > 0;
  }

  /** Keys that act on a shape in progress; true when the key was used. */
  handleKey(key: string): boolean {
    if (key === "Escape" && this.active()) {
      this.cancel();
      return true;
    }
    if (key === "Enter" && this.vertices.length) {
      this.closePolygon();
      return true;
    }
    if (key === "Backspace" && this.vertices.length) {
      this.vertices.pop();
      this.on.changed();
      return true;
    }
    return false;
  }

  /** Drop any gesture in progress. */
  cancel(): void {
    this.drag = null;
    this.vertices = [];
    this.on.changed();
  }

  private screenPoint(event: PointerEvent | MouseEvent): Position {
    const rect = this.surface.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  private listen(): void {
    const surface = this.surface;
    surface.addEventListener("pointerdown", (e) => this.onDown(e));
    surface.addEventListener("pointermove", (e) => this.onMove(e));
    surface.addEventListener("pointerup", (e) => this.onUp(e));
    surface.addEventListener("pointercancel", () => {
      this.drag = null;
      this.on.changed();
    });
    surface.addEventListener("pointerleave", () => {
      this.hover = null;
      this.on.hovered();
    });
    surface.addEventListener("dblclick", (e) => {
      e.preventDefault();
      this.closePolygon();
    });
    surface.addEventListener("contextmenu", (e) => e.preventDefault());
    surface.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        this.viewer.wheel(e);
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
    const tool = this.on.tool();
    const reason = this.on.blocked(tool);
    if (reason) {
      this.on.notify(reason);
      return;
    }
    const point = this.viewer.toImage(screen[0], screen[1]);
    switch (tool) {
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
      case "wand":
        this.on.wand(point);
        break;
      default:
        break;
    }
    this.on.changed();
  }

  private startDrag(
    kind: Drag["kind"],
    event: PointerEvent,
    screen: Position,
    points: Position[],
  ): void {
    this.drag = { kind, pointerId: event.pointerId, points, lastScreen: screen };
    this.surface.setPointerCapture(event.pointerId);
  }

  private onMove(event: PointerEvent): void {
    this.hover = this.screenPoint(event);
    this.on.hovered();
    const drag = this.drag;
    if (!drag || drag.pointerId !== event.pointerId) {
      if (this.vertices.length) this.on.changed();
      return;
    }
    const events = event.getCoalescedEvents?.() ?? [];
    for (const e of events.length ? events : [event]) {
      const screen = this.screenPoint(e);
      if (drag.kind === "pan") {
        this.viewer.panBy(drag.lastScreen[0] - screen[0], drag.lastScreen[1] - screen[1]);
        drag.lastScreen = screen;
        continue;
      }
      const point = this.viewer.toImage(screen[0], screen[1]);
      if (drag.kind === "rect") drag.points[1] = point;
      else if (distance(screen, drag.lastScreen) >= 0.75) {
        drag.points.push(point);
        drag.lastScreen = screen;
      }
    }
    this.on.changed();
  }

  private onUp(event: PointerEvent): void {
    const drag = this.drag;
    if (!drag || drag.pointerId !== event.pointerId) return;
    this.drag = null;
    if (this.surface.hasPointerCapture(event.pointerId)) {
      this.surface.releasePointerCapture(event.pointerId);
    }
    const z = this.viewer.imageZoom();
    if (drag.kind === "stroke") {
      const point = this.viewer.toImage(...this.screenPoint(event));
      if (distance(point, drag.points[drag.points.length - 1]) > 0) drag.points.push(point);
      this.on.stroke(drag.points, z);
    } else if (drag.kind === "lasso") {
      this.on.polygon("polygon", thinPoints(drag.points, 1 / z));
    } else if (drag.kind === "rect") {
      const [a, b] = drag.points;
      if (Math.abs(a[0] - b[0]) * z >= 2 && Math.abs(a[1] - b[1]) * z >= 2) {
        this.on.polygon("roi", rectangleCorners(a, b));
      }
    }
    this.on.changed();
  }

  private addVertex(point: Position, screen: Position): void {
    const z = this.viewer.imageZoom();
    const toScreen = (p: Position) => this.viewer.toScreen(p[0], p[1]);
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
    const tool = this.on.tool() === "roi-polygon" ? "roi" : "polygon";
    const points = this.vertices;
    this.vertices = [];
    if (points.length < 3) {
      this.on.notify("A polygon needs at least three points");
    } else {
      this.on.polygon(tool, points);
    }
    this.on.changed();
  }
}
