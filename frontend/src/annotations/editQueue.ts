// Sends edits one at a time, in the order the user made them, so the server applies them
// in that order. A stroke whose request never reached the server is retried a few times
// (brush, eraser and polygon edits are idempotent), then reported.

import { ApiError } from "../core/api";

export interface QueueTask<T> {
  run: () => Promise<T>;
  /** Whether resending after a network failure is harmless. */
  retry: boolean;
}

const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15_000, 30_000];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A network failure (no HTTP answer), as opposed to the server refusing the request. */
export function isNetworkError(error: unknown): boolean {
  return !(error instanceof ApiError);
}

export class EditQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly onBusy: (busy: boolean) => void,
    private readonly delays: number[] = RETRY_DELAYS_MS,
  ) {}

  /** How many tasks are queued or running. */
  get size(): number {
    return this.waiting;
  }

  /** Run `task` after every task queued before it; resolves or rejects with its outcome. */
  push<T>(task: QueueTask<T>): Promise<T> {
    this.waiting += 1;
    if (this.waiting === 1) this.onBusy(true);
    const result = this.tail.then(() => this.attempt(task));
    this.tail = result
      .catch(() => undefined)
      .finally(() => {
        this.waiting -= 1;
        if (this.waiting === 0) this.onBusy(false);
      });
    return result;
  }

  private async attempt<T>(task: QueueTask<T>): Promise<T> {
    for (let i = 0; ; i += 1) {
      try {
        return await task.run();
      } catch (error) {
        if (!task.retry || !isNetworkError(error) || i >= this.delays.length) throw error;
        await sleep(this.delays[i]);
      }
    }
  }
}
