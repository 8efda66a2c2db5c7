// The Select tool (V): click a label to select its whole connected shape (the server merges
// it across grid cells), see its outline with vertex handles, drag a handle to move a vertex
// (sent on release as one "replace"), Delete/Backspace to delete it, and choose a class (the
// box's picker, the class panel or the number keys) to recolor it; Esc deselects. A click on
// no label but inside an ROI selects the ROI (Delete removes it). Dragging elsewhere pans.

import { ApiError, getJson, sendJson } from "../../core/api";
import { button, frameThrottle, h } from "../../core/dom";
import { registerShortcut } from "../../core/shortcuts";
import { showError } from "../../core/toast";
import type { SlideViewer } from "../../viewer/slideViewer";
import type { ClassStore } from "../classStore";
import { formatArea } from "../format";
import { outerRing } from "../geometry";
import type { AnnotationSession } from "../session";
import type { PolygonCoords, Position, RoiProperties } from "../types";
import type { ToolController } from "./controller";
import { resetLayer } from "./layer";
import {
  containsPoint,
  handleAt,
  type LabelShape,
  moveVertex,
  pointInside,
  type VertexRef,
  visibleVertices,
} from "./selectState";

/** The screen px a press may move and still be a click (more: it pans). */
const CLICK_SLOP_PX = 4;
const OUTLINE = "#00e5ff"; // cyan: apart from H&E, glass, the ROI yellow and the palette
const HALO = "rgba(0, 0, 0, 0.75)";

type Selection =
  | { kind: "label"; slideId: string; at: Position; shape: LabelShape; polygon: PolygonCoords }
  | { kind: "roi"; slideId: string; roiId: number; polygon: PolygonCoords };

type Press =
  | { kind: "vertex"; pointerId: number; ref: VertexRef; moved: boolean }
  | { kind: "click"; pointerId: number; start: Position; last: Position; panning: boolean };

type ShapeAction =
  | { action: "delete" }
  | { action: "recolor"; class_id: number }
  | { action: "replace"; geometry: { type: "Polygon"; coordinates: PolygonCoords } };

const slidePath = (slideId: string) => `/api/slides/${encodeURIComponent(slideId)}`;

export class SelectTool {
  /** The canvas the outline and handles are drawn on; it takes the pointer while active. */
  readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly box: HTMLElement;
  private selection: Selection | null = null;
  private handles: VertexRef[] = [];
  private press: Press | null = null;
  private token = 0;
  private activeClassId: number | null;
  private syncingClass = false;
  private readonly redraw: () => void;

  constructor(
    stage: HTMLElement,
    private readonly viewer: SlideViewer,
    private readonly session: AnnotationSession,
    private readonly classes: ClassStore,
    private readonly tools: ToolController,
  ) {
    this.canvas = h("canvas", {
      class: "layer select-layer",
      "data-testid": "select-layer",
      "aria-label": "Selection surface",
    });
    this.ctx = this.canvas.getContext("2d")!;
    this.box = h("div", { class: "selection-box", "data-testid": "selection", hidden: true });
    stage.append(this.canvas, this.box);
    this.redraw = frameThrottle(() => this.draw());
    this.activeClassId = classes.activeClass()?.id ?? null;
    this.listen();
    viewer.onViewChange(this.redraw);
    tools.subscribe(() => this.applyMode());
    classes.subscribe(() => this.onClassesChanged());
    session.model.subscribe(() => this.refresh());
    this.applyMode();
  }

  /** Whether something is selected. */
  get selected(): boolean {
    return this.selection !== null;
  }

  /** Drop the selection. */
  deselect(): void {
    this.token += 1;
    this.selection = null;
    this.press = null;
    this.update();
  }

  /** Delete the selected shape or ROI; false when nothing is selected. */
  deleteSelected(): boolean {
    const selection = this.selection;
    if (!selection) return false;
    this.deselect();
    if (selection.kind === "roi") this.session.deleteRoi(selection.roiId);
    else this.send(selection, { action: "delete" });
    return true;
  }

  /** Give the selected label shape another class; false when no label shape is selected. */
  recolor(classId: number): boolean {
    const selection = this.selection;
    if (selection?.kind !== "label") return false;
    if (selection.shape.class_id !== classId)
      this.send(selection, { action: "recolor", class_id: classId });
    return true;
  }

  /** Select what lies under a level-0 point: a label's shape, else an ROI, else nothing. */
  async selectAt(point: Position): Promise<void> {
    const slideId = this.session.slideId;
    if (!slideId) return;
    const token = ++this.token;
    let shape: LabelShape | null = null;
    try {
      shape = await findShape(slideId, point);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) showError(error);
    }
    if (token !== this.token || slideId !== this.session.slideId) return;
    if (shape) {
      this.setSelection({
        kind: "label",
        slideId,
        at: point,
        shape,
        polygon: shape.polygon.coordinates,
      });
      return;
    }
    const roi = this.session.model.rois().find((f) => containsPoint([outerRing(f)], point));
    if (roi) {
      const roiId = (roi.properties as RoiProperties).roi_id;
      this.setSelection({ kind: "roi", slideId, roiId, polygon: [outerRing(roi)] });
    } else {
      this.setSelection(null);
    }
  }

  private setSelection(selection: Selection | null): void {
    this.selection = selection;
    if (selection?.kind === "label") {
      // The class panel shows the shape's class; choosing another one recolors it.
      this.syncingClass = true;
      this.classes.select(selection.shape.class_id);
      this.syncingClass = false;
      this.activeClassId = this.classes.activeClass()?.id ?? null;
    }
    this.update();
  }

  private send(selection: Selection & { kind: "label" }, action: ShapeAction): void {
    const body = { tool: "shape", at: selection.at, ...action };
    this.session
      .change((slideId, clientId) =>
        sendJson("POST", `${slidePath(slideId)}/annotations/edits`, {
          ...body,
          client_id: clientId,
        }),
      )
      .catch((error) => {
        showError(error);
        void this.refresh();
      });
  }

  /** After any change of the labels: read the selected shape again (it may have changed). */
  private async refresh(): Promise<void> {
    const selection = this.selection;
    if (!selection) return;
    if (selection.slideId !== this.session.slideId) {
      this.deselect();
      return;
    }
    if (selection.kind === "roi") {
      const still = this.session.model
        .rois()
        .some((f) => (f.properties as RoiProperties).roi_id === selection.roiId);
      if (!still) this.deselect();
      return;
    }
    if (this.press?.kind === "vertex") return; // a drag in progress keeps its outline
    await this.selectAt(selection.at);
  }

  private onClassesChanged(): void {
    const id = this.classes.activeClass()?.id ?? null;
    const previous = this.activeClassId;
    this.activeClassId = id;
    // A choice of the user: the class that was active still exists (not a class delete).
    const chosen = id !== previous && previous !== null && this.classes.get(previous);
    if (chosen && !this.syncingClass && id !== null && this.tools.tool === "select") {
      this.recolor(id);
    }
    if (this.selection) this.update();
  }

  private applyMode(): void {
    const active = this.tools.tool === "select";
    this.canvas.style.pointerEvents = active ? "auto" : "none";
    if (!active && this.selection) this.deselect();
    this.redraw();
  }

  private listen(): void {
    const canvas = this.canvas;
    canvas.addEventListener("pointerdown", (e) => this.onDown(e));
    canvas.addEventListener("pointermove", (e) => this.onMove(e));
    canvas.addEventListener("pointerup", (e) => this.onUp(e));
    canvas.addEventListener("pointercancel", () => {
      this.press = null;
      this.update();
    });
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    canvas.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        this.viewer.wheel(e);
      },
      { passive: false },
    );
  }

  private screenPoint(event: PointerEvent): Position {
    const rect = this.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  private onDown(event: PointerEvent): void {
    if (event.button !== 0 && event.button !== 1) return;
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    const screen = this.screenPoint(event);
    this.canvas.setPointerCapture(event.pointerId);
    const selection = this.selection;
    const ref =
      event.button === 0 && selection?.kind === "label"
        ? handleAt(selection.polygon, this.handles, screen, (p) => this.viewer.toScreen(p[0], p[1]))
        : null;
    this.press = ref
      ? { kind: "vertex", pointerId: event.pointerId, ref, moved: false }
      : {
          kind: "click",
          pointerId: event.pointerId,
          start: screen,
          last: screen,
          panning: event.button === 1,
        };
  }

  private onMove(event: PointerEvent): void {
    const screen = this.screenPoint(event);
    const press = this.press;
    if (!press || press.pointerId !== event.pointerId) {
      this.hover(screen);
      return;
    }
    if (press.kind === "vertex") {
      const selection = this.selection;
      if (selection?.kind !== "label") return;
      const to = this.viewer.toImage(screen[0], screen[1]);
      selection.polygon = moveVertex(selection.polygon, press.ref, to);
      press.moved = true;
      this.redraw();
      return;
    }
    const far = Math.hypot(screen[0] - press.start[0], screen[1] - press.start[1]);
    if (!press.panning && far > CLICK_SLOP_PX) press.panning = true;
    if (press.panning) {
      this.viewer.panBy(press.last[0] - screen[0], press.last[1] - screen[1]);
      press.last = screen;
    }
  }

  private onUp(event: PointerEvent): void {
    const press = this.press;
    if (!press || press.pointerId !== event.pointerId) return;
    this.press = null;
    if (this.canvas.hasPointerCapture(event.pointerId)) {
      this.canvas.releasePointerCapture(event.pointerId);
    }
    const selection = this.selection;
    if (press.kind === "vertex") {
      if (!press.moved || selection?.kind !== "label") return;
      const polygon = selection.polygon;
      // Name the shape by a point inside its new outline, so it stays selected.
      const at = pointInside(polygon, selection.at);
      this.send(selection, {
        action: "replace",
        geometry: { type: "Polygon", coordinates: polygon },
      });
      if (at) selection.at = at;
      else this.deselect();
      return;
    }
    if (!press.panning) {
      const screen = this.screenPoint(event);
      void this.selectAt(this.viewer.toImage(screen[0], screen[1]));
    }
  }

  private hover(screen: Position): void {
    const selection = this.selection;
    const over =
      selection?.kind === "label" &&
      handleAt(selection.polygon, this.handles, screen, (p) => this.viewer.toScreen(p[0], p[1]));
    this.canvas.style.cursor = over ? "move" : "default";
  }

  /** Redraw, and show the selection's box. */
  private update(): void {
    this.redraw();
    this.renderBox();
  }

  private renderBox(): void {
    const selection = this.selection;
    this.box.hidden = !selection;
    if (!selection) {
      this.box.replaceChildren();
      return;
    }
    const remove = button(
      "Delete",
      "Delete this shape (Delete or Backspace)",
      () => this.deleteSelected(),
      {
        class: "danger",
        "data-testid": "selection-delete",
      },
    );
    if (selection.kind === "roi") {
      this.box.replaceChildren(h("strong", {}, `ROI ${selection.roiId}`), remove);
      return;
    }
    const { shape } = selection;
    const picker = h("select", {
      "data-testid": "selection-class",
      "aria-label": "Class of the selected shape",
      title: "Change the class of this shape (or press its number)",
    });
    for (const cls of this.classes.all()) {
      const option = h("option", { value: cls.id }, cls.name);
      option.selected = cls.id === shape.class_id;
      picker.append(option);
    }
    picker.addEventListener("change", () => this.recolor(Number(picker.value)));
    const color = this.classes.get(shape.class_id)?.color ?? shape.color ?? "#888";
    const hint = this.handles.length ? "Drag a vertex to move it" : "Zoom in to move vertices";
    this.box.replaceChildren(
      h("span", { class: "swatch", style: `background:${color}` }),
      picker,
      h(
        "span",
        { class: "value", "data-testid": "selection-area" },
        formatArea(shape.area_um2, shape.area_px),
      ),
      remove,
      h("span", { class: "muted", "data-testid": "selection-hint" }, hint),
    );
  }

  private draw(): void {
    const dpr = resetLayer(this.canvas, this.ctx, this.viewer);
    const ctx = this.ctx;
    const selection = this.selection;
    const z = this.viewer.imageZoom();
    const hadHandles = this.handles.length > 0;
    this.handles = [];
    if (!selection || !(z > 0)) return;
    if (selection.kind === "label") {
      this.handles = visibleVertices(selection.polygon, this.viewer.visibleBounds());
    }
    const [ox, oy] = this.viewer.toScreen(0, 0);
    ctx.setTransform(z * dpr, 0, 0, z * dpr, ox * dpr, oy * dpr);
    const path = new Path2D();
    for (const ring of selection.polygon) {
      if (!ring.length) continue;
      path.moveTo(ring[0][0], ring[0][1]);
      for (let i = 1; i < ring.length; i += 1) path.lineTo(ring[i][0], ring[i][1]);
      path.closePath();
    }
    ctx.lineJoin = "round";
    ctx.strokeStyle = HALO;
    ctx.lineWidth = 4 / z;
    ctx.stroke(path);
    ctx.strokeStyle = OUTLINE;
    ctx.lineWidth = 2 / z;
    if (selection.kind === "roi") ctx.setLineDash([8 / z, 5 / z]);
    ctx.stroke(path);
    ctx.setLineDash([]);
    const size = 7 / z;
    ctx.fillStyle = "#ffffff";
    ctx.strokeStyle = HALO;
    ctx.lineWidth = 1.5 / z;
    for (const { ring, index } of this.handles) {
      const [x, y] = selection.polygon[ring][index];
      ctx.fillRect(x - size / 2, y - size / 2, size, size);
      ctx.strokeRect(x - size / 2, y - size / 2, size, size);
    }
    if (hadHandles !== this.handles.length > 0) this.renderBox();
  }
}

/** The connected shape of the label under a level-0 point (404: none). */
function findShape(slideId: string, [x, y]: Position): Promise<LabelShape> {
  return getJson<LabelShape>(`${slidePath(slideId)}/annotations/shape?x=${x}&y=${y}`);
}

/** Register the Select tool's keys: Delete/Backspace delete the selection, Escape drops it. */
export function registerSelectKeys(select: SelectTool): void {
  registerShortcut({
    keys: ["delete", "backspace"],
    description: "Delete the selected shape or ROI (Select tool)",
    group: "Painting",
    shared: true,
    handler: () => select.deleteSelected(),
  });
  registerShortcut({
    keys: ["escape"],
    description: "Drop the selection (Select tool)",
    group: "Painting",
    shared: true,
    handler: () => {
      if (!select.selected) return false;
      select.deselect();
      return true;
    },
  });
}
