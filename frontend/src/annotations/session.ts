// The annotations of the open slide: loading, sending edits in order, undo/redo, and
// following other browsers' edits over Socket.IO. Answers and broadcasts carry only the
// change (polygons added and removed, class totals); the model applies them by version.

import type { Socket } from "socket.io-client";
import type { LabelClass } from "../core/app";
import { CLIENT_ID } from "../core/clientId";
import { showError } from "../core/toast";
import * as api from "./api";
import type { ClassStore } from "./classStore";
import { EditQueue } from "./editQueue";
import { AnnotationModel } from "./model";
import type { StrokePreview } from "./strokes";
import type { AnnotationsChanged, EditRequest, EditResult } from "./types";

export type SaveState = "saved" | "saving";

export class AnnotationSession {
  readonly model = new AnnotationModel();
  private slide: string | null = null;
  private pending: StrokePreview[] = [];
  private readonly queue: EditQueue;
  private pendingListeners = new Set<(pending: StrokePreview[]) => void>();
  private saveListeners = new Set<(state: SaveState) => void>();
  private loadToken = 0;

  constructor(
    private readonly socket: Socket,
    private readonly classes: ClassStore,
  ) {
    this.queue = new EditQueue((busy) => this.emitSave(busy ? "saving" : "saved"));
    socket.on("annotations:changed", (payload: AnnotationsChanged) => this.onRemote(payload));
    socket.on("classes:changed", (list: LabelClass[]) => this.classes.set(list));
    socket.on("connect", () => this.onReconnect());
  }

  /** The id of the slide whose annotations are held, or null. */
  get slideId(): string | null {
    return this.slide;
  }

  /** Call `listener` with the strokes sent but not yet answered. */
  onPending(listener: (pending: StrokePreview[]) => void): void {
    this.pendingListeners.add(listener);
  }

  /** Call `listener` when edits start or finish saving. */
  onSaveState(listener: (state: SaveState) => void): void {
    this.saveListeners.add(listener);
  }

  /** Whether every edit sent so far has been answered. */
  get saved(): boolean {
    return this.queue.size === 0;
  }

  /** Switch to a slide: follow its room and load its annotations. */
  async open(slideId: string): Promise<void> {
    if (this.slide && this.slide !== slideId) this.socket.emit("unwatch", { slide_id: this.slide });
    this.slide = slideId;
    this.setPending([]);
    this.model.clear();
    this.socket.emit("watch", { slide_id: slideId });
    await this.reload();
  }

  /** Stop following the slide. */
  close(): void {
    if (this.slide) this.socket.emit("unwatch", { slide_id: this.slide });
    this.slide = null;
    this.setPending([]);
    this.model.clear();
  }

  /** Load everything again from the server. */
  async reload(): Promise<void> {
    const slideId = this.slide;
    if (!slideId) return;
    const token = ++this.loadToken;
    try {
      const collection = await api.loadAnnotations(slideId);
      if (token === this.loadToken && slideId === this.slide) this.model.load(collection);
    } catch (error) {
      showError(error);
    }
  }

  /** Send a stroke/polygon/ROI; `preview` shows until the server's answer replaces it. */
  submit(edit: EditRequest, preview: StrokePreview): void {
    const slideId = this.slide;
    if (!slideId) return;
    this.setPending([...this.pending, preview]);
    const body = { ...edit, client_id: CLIENT_ID };
    this.queue
      .push({ run: () => api.sendEdit(slideId, body), retry: edit.tool !== "roi" })
      .then((result) => this.applyOwn(slideId, result))
      .catch((error) => showError(error))
      .finally(() => this.setPending(this.pending.filter((p) => p !== preview)));
  }

  /** Undo or redo the slide's last step (after edits still being sent). */
  step(direction: "undo" | "redo"): void {
    const slideId = this.slide;
    if (!slideId) return;
    this.queue
      .push({ run: () => api.stepHistory(slideId, direction, CLIENT_ID), retry: false })
      .then((result) => this.applyOwn(slideId, result))
      .catch((error) => showError(error));
  }

  /** Delete one ROI. */
  deleteRoi(roiId: number): void {
    const slideId = this.slide;
    if (!slideId) return;
    this.queue
      .push({ run: () => api.deleteRoi(slideId, roiId, CLIENT_ID), retry: false })
      .then((result) => this.applyOwn(slideId, result))
      .catch((error) => showError(error));
  }

  /** Send another kind of change (e.g. a shape edit) in order with the edits; its answer is
   * applied to the model like theirs. `run` gets the slide and this browser's client id. */
  change(
    run: (slideId: string, clientId: string) => Promise<EditResult>,
  ): Promise<EditResult | null> {
    const slideId = this.slide;
    if (!slideId) return Promise.resolve(null);
    return this.queue.push({ run: () => run(slideId, CLIENT_ID), retry: false }).then((result) => {
      this.applyOwn(slideId, result);
      return result;
    });
  }

  /** Replace all labels and ROIs from a GeoJSON object; answers the reasons for skips. */
  async importGeoJson(collection: unknown): Promise<string[]> {
    const slideId = this.slide;
    if (!slideId) return [];
    const answer = await this.queue.push({
      run: () => api.importGeoJson(slideId, collection, CLIENT_ID),
      retry: false,
    });
    if (slideId === this.slide) this.model.load(answer);
    this.classes.set(await api.listClasses());
    return answer.skipped ?? [];
  }

  private applyOwn(slideId: string, result: EditResult): void {
    if (slideId === this.slide) this.model.applyResult(result);
  }

  private onRemote(payload: AnnotationsChanged): void {
    if (!this.slide || payload.slide_id !== this.slide) return;
    // Our own change: its HTTP answer brings (or brought) the same news.
    if (payload.client_id === CLIENT_ID) return;
    if (payload.features === null) {
      // "Reload": sent on joining the room, after imports and class deletes.
      if (payload.version !== this.model.version) void this.reload();
      return;
    }
    // Another browser edited: the slide's shared history now has a step to undo.
    this.model.apply(
      payload.version,
      payload.features,
      payload.removed ?? [],
      { can_undo: true, can_redo: false },
      payload.classes ?? [],
    );
  }

  private onReconnect(): void {
    // Events may have been missed while disconnected: rejoin the room and resync.
    if (!this.slide) return;
    this.socket.emit("watch", { slide_id: this.slide });
    void this.reload();
    api.listClasses().then(
      (list) => this.classes.set(list),
      () => undefined,
    );
  }

  private setPending(pending: StrokePreview[]): void {
    this.pending = pending;
    for (const listener of this.pendingListeners) listener(pending);
  }

  private emitSave(state: SaveState): void {
    for (const listener of this.saveListeners) listener(state);
  }
}
