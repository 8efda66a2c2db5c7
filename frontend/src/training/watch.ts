// Following one run over Socket.IO: history on join, then live iterations and states.

import type { Socket } from "socket.io-client";
import type {
  HistoryEvent,
  IterationEvent,
  JobErrorEvent,
  ProgressEvent,
  StateEvent,
} from "./types";

export interface RunHandlers {
  history(event: HistoryEvent): void;
  iteration(event: IterationEvent): void;
  state(event: StateEvent): void;
  progress(event: ProgressEvent): void;
  error(event: JobErrorEvent): void;
}

/** Joins the room of one run at a time; joins again after every reconnect. */
export class RunWatcher {
  private runId: string | null = null;

  constructor(
    private readonly socket: Socket,
    handlers: RunHandlers,
  ) {
    const mine = (id: unknown) => this.runId !== null && String(id) === this.runId;
    socket.on("connect", () => this.join());
    socket.on("training:history", (e: HistoryEvent) => mine(e.run_id) && handlers.history(e));
    socket.on("training:iteration", (e: IterationEvent) => mine(e.run_id) && handlers.iteration(e));
    socket.on("training:state", (e: StateEvent) => mine(e.run_id) && handlers.state(e));
    socket.on("training:progress", (e: ProgressEvent) => mine(e.run_id) && handlers.progress(e));
    socket.on("job:error", (e: JobErrorEvent) => mine(e.run_id) && handlers.error(e));
  }

  /** Follow `runId` (null: none); the server answers with the run's full history. */
  watch(runId: string | null): void {
    if (this.runId && this.runId !== runId && this.socket.connected) {
      this.socket.emit("unwatch", { run_id: this.runId });
    }
    this.runId = runId;
    this.join();
  }

  /** Ask for the full history again (after a gap or a continue). */
  rejoin(): void {
    this.join();
  }

  private join(): void {
    if (this.runId && this.socket.connected) this.socket.emit("watch", { run_id: this.runId });
  }
}
