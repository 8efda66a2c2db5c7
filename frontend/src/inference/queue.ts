// The results being computed: watched over Socket.IO, shown as one progress bar, cancellable.

import { sendJson } from "../core/api";
import type { Socket } from "socket.io-client";
import { showError } from "../core/toast";
import { ProgressView, overallProgress, type SlideProgress } from "./progress";
import type { ProgressEvent, ResultState } from "./types";

const FINAL: readonly string[] = ["completed", "failed", "cancelled"];

export class ResultQueue {
  readonly progress = new ProgressView();
  private ids: string[] = [];
  private slideOf = new Map<string, string>();
  private nameOf = new Map<string, string>();
  private finished = new Map<string, ResultState>();
  private latest = new Map<string, ProgressEvent>();

  /** `onFinish(resultId, slideId, state)` runs once per result when it ends. */
  constructor(
    private readonly socket: Socket,
    private readonly onFinish: (resultId: string, slideId: string, state: ResultState) => void,
    private readonly onError: (message: string, hint?: string) => void,
  ) {
    socket.on("inference:progress", (e: ProgressEvent) => {
      const id = String(e.result_id);
      if (!this.slideOf.has(id)) return;
      this.latest.set(id, e);
      if (e.state && FINAL.includes(e.state)) this.finish(id, e.state);
      else this.render();
    });
    socket.on("inference:done", (e: { result_id: string; state: ResultState }) => {
      const id = String(e.result_id);
      if (this.slideOf.has(id)) this.finish(id, e.state);
    });
    socket.on("job:error", (e: { result_id?: string; message: string; hint?: string }) => {
      if (e.result_id !== undefined && this.slideOf.has(String(e.result_id)))
        this.onError(e.message, e.hint);
    });
    socket.on("connect", () => {
      for (const id of this.pending()) socket.emit("watch", { result_id: id });
    });
    this.progress.cancel.addEventListener("click", () => void this.cancel());
  }

  /** Whether a result is followed here. */
  has(resultId: string): boolean {
    return this.slideOf.has(resultId);
  }

  /** Follow new results (`slideIds[i]` and `names[i]`: the slide of `ids[i]`). */
  add(ids: string[], slideIds: string[], names: string[] = []): void {
    if (this.pending().length === 0) {
      this.ids = [];
      this.slideOf.clear();
      this.nameOf.clear();
      this.finished.clear();
      this.latest.clear();
    }
    ids.forEach((id, i) => {
      this.ids.push(id);
      this.slideOf.set(id, slideIds[i] ?? slideIds[0]);
      this.nameOf.set(id, names[i] ?? `slide ${this.ids.length}`);
      this.socket.emit("watch", { result_id: id });
    });
    this.render();
  }

  private pending(): string[] {
    return this.ids.filter((id) => !this.finished.has(id));
  }

  private finish(id: string, state: ResultState): void {
    if (this.finished.has(id)) return;
    this.finished.set(id, state);
    this.render();
    this.onFinish(id, this.slideOf.get(id) ?? "", state);
  }

  private render(): void {
    const pending = this.pending();
    if (!pending.length) return this.progress.hide();
    const active = pending.find((id) => this.latest.get(id)?.state === "running") ?? pending[0];
    const slides: SlideProgress[] = this.ids.map((id) => ({
      name: this.nameOf.get(id) ?? id,
      state: this.finished.get(id) ?? this.latest.get(id)?.state ?? "queued",
      progress: this.latest.get(id)?.progress ?? 0,
    }));
    const total = this.ids.length;
    const label = total > 1 ? `${this.finished.size} of ${total} slides done` : "";
    this.progress.show(overallProgress(slides), this.latest.get(active)?.eta_s, label, slides);
  }

  /** Cancel every result not finished yet. */
  async cancel(): Promise<void> {
    for (const id of this.pending()) {
      try {
        await sendJson("POST", `/api/results/${encodeURIComponent(id)}/cancel`);
      } catch (error) {
        showError(error);
      }
    }
  }
}
