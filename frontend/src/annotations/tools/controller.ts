// The active tool and brush size, tying the gestures, the ink layer, the brush cursor and the
// edits together.

import { frameThrottle } from "../../core/dom";
import { MAX_BRUSH_PX, MIN_BRUSH_PX, type ToolHost, type ToolName } from "./catalog";
import { BrushCursor } from "./cursor";
import { commitPolygon, commitStroke } from "./edits";
import { Gestures } from "./gestures";
import { InkLayer } from "./ink";
import { WandTool } from "./wand";

export class ToolController {
  private readonly ink: InkLayer;
  private readonly cursor: BrushCursor;
  private readonly gestures: Gestures;
  /** The magic wand's outline and tolerance. */
  readonly wand: WandTool;
  private toolName: ToolName = "pan";
  private brushRadiusPx = 16;
  private spaceHeld = false;
  private listeners = new Set<() => void>();
  private readonly requestInk: () => void;

  constructor(
    private readonly stage: HTMLElement,
    private readonly host: ToolHost,
  ) {
    this.ink = new InkLayer(stage, host.viewer);
    this.cursor = new BrushCursor(stage);
    this.requestInk = frameThrottle(() => this.drawInk());
    this.wand = new WandTool(stage, host, () => this.toolName === "wand", this.ink.canvas);
    this.gestures = new Gestures(this.ink.canvas, host.viewer, {
      tool: () => this.toolName,
      blocked: (tool) => host.blocked(tool),
      notify: (message) => host.notify(message),
      stroke: (points, z) => {
        const tool = this.toolName === "eraser" ? "eraser" : "brush";
        commitStroke(host, tool, points, this.brushRadiusPx, z);
      },
      polygon: (tool, points) => commitPolygon(host, tool, points),
      wand: (point) => this.wand.click(point),
      changed: () => this.requestInk(),
      hovered: () => this.placeCursor(),
    });
    host.viewer.onViewChange(() => {
      if (this.gestures.active()) this.drawInk();
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
    if (this.toolName === "wand" && this.wand.handleKey(key)) return true;
    return this.gestures.handleKey(key);
  }

  /** Drop any gesture in progress (and the wand's outline). */
  cancel(): void {
    this.gestures.cancel();
    this.wand.cancel();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  private drawing(): boolean {
    // Pan and Select leave the ink layer alone (Select has its own layer).
    return this.toolName !== "pan" && this.toolName !== "select" && !this.spaceHeld;
  }

  private applyMode(): void {
    this.stage.dataset.tool = this.spaceHeld ? "pan" : this.toolName;
    this.ink.canvas.style.pointerEvents = this.drawing() ? "auto" : "none";
    // The ink is needed by drawing tools and shapes in progress; else it is hidden.
    this.ink.canvas.hidden = !this.drawing() && !this.gestures.active();
    this.placeCursor();
  }

  private placeCursor(): void {
    const brush = this.toolName === "brush" || this.toolName === "eraser";
    const at = this.drawing() && brush ? this.gestures.hover : null;
    this.cursor.place(at, this.brushRadiusPx, this.toolName === "eraser");
  }

  private drawInk(): void {
    const { drag, vertices, hover } = this.gestures;
    this.ink.draw({
      drag,
      vertices,
      hover,
      eraser: this.toolName === "eraser",
      roiPolygon: this.toolName === "roi-polygon",
      brushRadiusPx: this.brushRadiusPx,
      color: this.host.classes.activeClass()?.color ?? "#ffffff",
      alpha: Math.max(this.host.opacity(), 0.35),
    });
  }
}
