// Which run controls make sense in which state.

import type { RunState } from "./types";

export interface ButtonStates {
  train: boolean;
  pause: boolean;
  resume: boolean;
  stop: boolean;
  continue: boolean;
}

/** States in which a run holds (or waits for) the device. */
export const ACTIVE_STATES: readonly RunState[] = ["queued", "running", "paused"];

/** True while a run is queued, running or paused. */
export function isActive(state: RunState | null | undefined): boolean {
  return !!state && ACTIVE_STATES.includes(state);
}

/**
 * Enabled buttons for the shown run's `state` (null: no run yet). Continue picks a stopped
 * or interrupted run up from its checkpoint, or trains a completed one further. While a
 * request is in flight (`busy`) everything is disabled so a double click cannot send two.
 */
export function buttonsFor(state: RunState | null | undefined, busy = false): ButtonStates {
  const none: ButtonStates = {
    train: false,
    pause: false,
    resume: false,
    stop: false,
    continue: false,
  };
  if (busy) return none;
  switch (state) {
    case "queued":
      return { ...none, stop: true };
    case "running":
      return { ...none, pause: true, stop: true };
    case "paused":
      return { ...none, resume: true, stop: true };
    case "stopped":
    case "interrupted":
    case "completed":
      return { ...none, train: true, continue: true };
    default:
      return { ...none, train: true };
  }
}

/** Short words for the state badge. */
export function stateLabel(state: RunState | null | undefined): string {
  if (!state) return "idle";
  return state;
}
