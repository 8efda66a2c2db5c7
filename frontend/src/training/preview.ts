// Live preview while training: every few seconds the run's current weights classify the
// visible area and the overlay refreshes, so the user sees where to paint more.

import { sendJson } from "../core/api";
import type { AppContext } from "../core/app";
import { ResultOverlay } from "../viewer/resultOverlay";
import { visibleBox } from "../core/geometry";
import type { JobErrorEvent } from "./types";

/** A new preview is asked for this long after the last one was (or at once when it ends later). */
export const PREVIEW_EVERY_MS = 3000;
const GIVE_UP_MS = 60000;

interface DoneEvent {
  result_id: string;
  state: string;
}

/** Polls POST /api/preview while enabled and the run is running; shows the answers. */
export class LivePreview {
  private enabled = false;
  private timer: number | null = null;
  private pending: { resultId: string | null; since: number } | null = null;
  /** How many previews have been shown (each one with the weights of its moment). */
  version = 0;
  readonly overlay: ResultOverlay;

  /** `onShown(loaded, resultId)` reports the preview overlay's state (for tests and styling). */
  constructor(
    private readonly app: AppContext,
    private readonly runId: () => string | null,
    private readonly running: () => boolean,
    private readonly onStatus: (text: string) => void,
    onShown: (loaded: boolean, resultId: string | null) => void = () => {},
  ) {
    this.overlay = new ResultOverlay(
      () => app.viewer(),
      (loaded, resultId) => onShown(loaded, resultId),
    );
    app.socket.on("inference:done", (e: DoneEvent) => this.done(e));
    // A preview that finished before we joined its room is only reported by the replay.
    app.socket.on("inference:progress", (e: Partial<DoneEvent> & { result_id: string }) => {
      if (e.state && ["completed", "failed", "cancelled"].includes(e.state))
        this.done(e as DoneEvent);
    });
    app.socket.on("job:error", (e: JobErrorEvent) => {
      if (
        this.pending &&
        e.result_id !== undefined &&
        String(e.result_id) === this.pending.resultId
      ) {
        this.pending = null;
        this.onStatus(`Preview failed: ${e.message}`);
      }
    });
    app.bus.on("slide:opened", () => this.overlay.clear());
  }

  /** Ask for a preview now when none is pending (the run just started or resumed). */
  poke(): void {
    if (this.enabled && !this.pending) void this.tick();
  }

  /** Turn the preview on or off (off removes its overlay). */
  setEnabled(on: boolean): void {
    this.enabled = on;
    if (this.timer !== null) window.clearInterval(this.timer);
    this.timer = null;
    if (on) {
      this.timer = window.setInterval(() => void this.tick(), PREVIEW_EVERY_MS);
      if (!this.running()) this.onStatus("Shown while a run trains.");
      void this.tick();
    } else {
      this.pending = null;
      this.overlay.clear();
      this.onStatus("");
    }
  }

  private async tick(): Promise<void> {
    const runId = this.runId();
    const slide = this.app.currentSlide();
    const viewer = this.app.viewer();
    if (
      !this.enabled ||
      !runId ||
      !this.running() ||
      !slide ||
      !viewer ||
      !slide.width ||
      !slide.height
    )
      return;
    if (this.pending && Date.now() - this.pending.since < GIVE_UP_MS) return;
    const bbox = visibleBox(this.app);
    if (!bbox) return;
    this.pending = { resultId: null, since: Date.now() };
    try {
      const answer = await sendJson<{ result_id: string }>("POST", "/api/preview", {
        run_id: runId,
        slide_id: slide.id,
        bbox,
      });
      const resultId = String(answer.result_id);
      this.pending = { resultId, since: this.pending?.since ?? Date.now() };
      this.app.socket.emit("watch", { result_id: resultId });
      this.onStatus("Preview: computing…");
      this.showElapsed(resultId);
    } catch (error) {
      this.pending = null;
      this.onStatus(`Preview failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** "Preview: computing… 3 s" while the server classifies the view. */
  private showElapsed(resultId: string): void {
    const timer = window.setInterval(() => {
      const pending = this.pending;
      if (!pending || pending.resultId !== resultId) return window.clearInterval(timer);
      const seconds = Math.round((Date.now() - pending.since) / 1000);
      this.onStatus(`Preview: computing… ${seconds} s`);
    }, 1000);
  }

  private done(event: DoneEvent): void {
    if (!this.pending || String(event.result_id) !== this.pending.resultId) return;
    const resultId = this.pending.resultId;
    this.pending = null;
    if (!this.enabled || event.state !== "completed") {
      if (event.state !== "completed") this.onStatus(`Preview ${event.state}`);
      return;
    }
    this.version += 1;
    const params = { threshold: 0, mode: "classes" as const, version: this.version };
    if (this.overlay.shown === resultId) this.overlay.update(params);
    else void this.overlay.show(resultId, params).catch((e: Error) => this.onStatus(e.message));
    this.onStatus(`Preview updated ${new Date().toLocaleTimeString()}`);
    this.app.bus.emit("preview:updated", { resultId });
    // The next one follows soon: the preview keeps up with the weights as they improve.
    window.setTimeout(() => this.poke(), PREVIEW_EVERY_MS);
  }
}
