// Shapes of the training API (see the training/inference API contract).

export type RunState =
  | "queued"
  | "running"
  | "paused"
  | "stopped"
  | "completed"
  | "failed"
  | "interrupted";

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

export interface JobError {
  message: string;
  hint?: string | null;
}

/** A run as `GET /api/training/<id>` answers it (history only in the single-run answer). */
export interface Run {
  id: string;
  state: RunState;
  settings: Settings;
  slides?: string[];
  classes?: number[];
  iteration: number;
  iterations?: number;
  history?: HistoryPoint[];
  app_id?: string | null;
  error?: JobError | null;
  it_per_s?: number | null;
  eta_s?: number | null;
  created?: string | number;
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
}

/** Socket.IO payloads. */
export interface HistoryEvent {
  run_id: string;
  state: RunState;
  settings?: Settings;
  history: HistoryPoint[];
  iteration: number;
  iterations?: number;
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
}

export interface StateEvent {
  run_id: string;
  state: RunState;
  iteration?: number;
  app_id?: string | null;
  error?: JobError | null;
}

export interface JobErrorEvent extends JobError {
  run_id?: string;
  result_id?: string;
}
