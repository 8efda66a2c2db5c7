// Shapes of the training API (see the training/inference API contract).

import type { FinalValues, Validation } from "../core/figures";

export type RunState =
  "queued" | "running" | "paused" | "stopped" | "completed" | "failed" | "interrupted";

/** One recorded iteration of a run. */
export interface HistoryPoint {
  iteration: number;
  loss: number;
  error_rate: number;
  lr?: number;
  time?: number;
  val_loss?: number | null;
  val_error_rate?: number | null;
}

/** What a run (and its app) says about the model it trained. */
export interface RunOutcome {
  final?: FinalValues | null;
  validation?: Validation | null;
  weights_from_iteration?: number | null;
  warnings?: string[];
}

/** A running run first prepares, then trains. */
export type RunPhase = "preparing" | "training";

/**
 * How far a run's preparation is: `labels` (slides whose label pieces are merged), `regions`
 * (labelled regions read and rasterised), `model` (built); `done` of `total`.
 */
export interface PrepareProgress {
  step: "labels" | "regions" | "model" | string;
  done: number;
  total: number;
}

export interface JobError {
  message: string;
  hint?: string | null;
}

/** A run as `GET /api/training/<id>` answers it (history only in the single-run answer). */
export interface Run extends RunOutcome {
  id: string;
  state: RunState;
  settings: Settings;
  slides?: string[];
  classes?: number[];
  iteration: number;
  iterations?: number;
  /** The iteration of the checkpoint a Continue starts from. */
  checkpoint_iteration?: number | null;
  history?: HistoryPoint[];
  app_id?: string | null;
  error?: JobError | null;
  it_per_s?: number | null;
  eta_s?: number | null;
  /** Seconds the run has run, preparation included. */
  duration_s?: number;
  /** Seconds spent preparing (merging labels, reading regions, building the model). */
  prepare_s?: number;
  /** While running or paused: preparing or training (null otherwise). */
  phase?: RunPhase | null;
  /** The preparation's progress while `phase` is "preparing". */
  progress?: PrepareProgress | null;
  created?: string | number;
  class_info?: { index: number; id: number | null; name: string; color: string }[];
}

export type SettingValue = string | number | boolean | null | SettingValue[] | Settings;
export interface Settings {
  [key: string]: SettingValue;
}

export interface Architecture {
  name: string;
  label: string;
  cpu_warning?: string | null;
  /** Encoders that fit this architecture (when the server lists them). */
  encoders?: string[];
  default_encoder?: string;
}

/** `GET /api/training/options`. */
export interface TrainingOptions {
  device: string;
  defaults: Settings;
  architectures: Architecture[];
  encoders: string[];
  choices: Record<string, string[]>;
  /** One line of help per setting path (server/training/settings.py HELP). */
  help?: Record<string, string>;
  /** Encoders whose ImageNet weights are in the server's local cache. */
  imagenet_cached?: string[];
}

/** Socket.IO payloads. */
export interface HistoryEvent extends RunOutcome {
  run_id: string;
  state: RunState;
  phase?: RunPhase | null;
  progress?: PrepareProgress | null;
  prepare_s?: number;
  duration_s?: number;
  settings?: Settings;
  history: HistoryPoint[];
  iteration: number;
  iterations?: number;
  class_info?: Run["class_info"];
}

export interface IterationEvent {
  run_id: string;
  iteration: number;
  loss: number;
  error_rate: number;
  lr?: number;
  it_per_s?: number | null;
  eta_s?: number | null;
  points?: HistoryPoint[];
  final?: FinalValues | null;
}

export interface StateEvent extends RunOutcome {
  run_id: string;
  state: RunState;
  iteration?: number;
  iterations?: number;
  app_id?: string | null;
  error?: JobError | null;
  duration_s?: number;
  prepare_s?: number;
  phase?: RunPhase | null;
  progress?: PrepareProgress | null;
}

/** `training:progress`: the preparation of a run, a few times a second while it lasts. */
export interface ProgressEvent extends PrepareProgress {
  run_id: string;
  phase: RunPhase | null;
  elapsed_s: number;
}

export interface JobErrorEvent extends JobError {
  run_id?: string;
  result_id?: string;
}
