// The brush cursor: a circle of the brush radius that follows the pointer.

import { h } from "../../core/dom";
import type { Position } from "../types";

export class BrushCursor {
  private readonly node: HTMLElement;

  constructor(stage: HTMLElement) {
    this.node = h("div", { class: "brush-cursor", "data-testid": "brush-cursor", hidden: true });
    stage.append(this.node);
  }

  /** Show the cursor at `at` (screen px) with `radius`, or hide it when `at` is null. */
  place(at: Position | null, radius: number, eraser: boolean): void {
    this.node.hidden = at === null;
    if (!at) return;
    this.node.style.width = this.node.style.height = `${2 * radius}px`;
    this.node.style.transform = `translate(${at[0] - radius}px, ${at[1] - radius}px)`;
    this.node.classList.toggle("eraser", eraser);
  }
}
