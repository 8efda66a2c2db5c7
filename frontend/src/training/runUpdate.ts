// What a watcher's event says about the run on show, in the run's own field names.

import type { HistoryEvent, Run, StateEvent } from "./types";

/** The run fields a `training:history` or `training:state` event carries (one list, once). */
export function runFromEvent(e: HistoryEvent | StateEvent): Partial<Run> {
  return {
    state: e.state,
    iteration: e.iteration,
    iterations: e.iterations,
    final: e.final,
    validation: e.validation,
    weights_from_iteration: e.weights_from_iteration,
    warnings: e.warnings,
    phase: e.phase ?? null,
    progress: e.progress ?? null,
    prepare_s: e.prepare_s,
    duration_s: e.duration_s,
  };
}
