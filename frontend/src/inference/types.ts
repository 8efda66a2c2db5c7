// Shapes of the apps and results API.

import type { FinalValues, Validation } from "../core/figures";

export interface AppClass {
  index: number;
  id: number | null;
  name: string;
  color: string;
}

export interface AppTraining {
  run_id?: string | null;
  iterations?: number | null;
  final_loss?: number | null;
  final_error_rate?: number | null;
  duration_s?: number | null;
  slides?: string[] | null;
  /** The run's settings (`keep_weights` says which weights the app kept). */
  settings?: { keep_weights?: string; [key: string]: unknown } | null;
}

/** A trained model ready to apply (`GET /api/apps`). */
export interface AppInfo {
  id: string;
  name: string;
  architecture: string;
  encoder?: string | null;
  classes: AppClass[];
  mpp: number;
  patch_size?: number | null;
  created?: string | number | null;
  training?: AppTraining | null;
  /** The run's final value (one definition with the run; absent in older apps). */
  final?: FinalValues | null;
  /** Validation of these weights on the run's hold-out. */
  validation?: Validation | null;
  /** The iteration the weights are from (best validated, or the last). */
  weights_from_iteration?: number | null;
}

export type ResultState = "queued" | "running" | "completed" | "failed" | "cancelled";

/** An inference result (`GET /api/results/<rid>`). */
export interface ResultInfo {
  id: string;
  state: ResultState;
  progress: number;
  eta_s?: number | null;
  app_id: string;
  slide_id: string;
  region?: unknown;
  classes: AppClass[];
  error?: { message: string; hint?: string | null } | null;
  created?: string | number | null;
  preview?: boolean;
  app_name?: string | null;
  slide_name?: string | null;
  /** Things the user should know, e.g. a slide without µm/px that fell back to its pixels. */
  warnings?: string[];
  /** Bumped each time the result is recomputed (live preview re-uses one result). */
  version?: number;
  /** The uncertainty map's colour stops, 0 → 1 evenly spaced ("#rrggbb"). */
  uncertainty_colors?: string[];
}

/** Uncertainty (normalised entropy, 0..1) over a result's region. */
export interface UncertaintyStats {
  mean: number;
  p90?: number | null;
  /** Share of the region with uncertainty ≥ 0.5. */
  high_fraction?: number | null;
}

export interface ClassArea {
  id: number | null;
  index: number;
  name: string;
  color: string;
  area_mm2: number;
  fraction: number;
}

/** Areas at a threshold (`GET /api/results/<rid>/stats`). */
export interface ResultStats {
  threshold: number;
  region_area_mm2: number;
  unclassified_area_mm2: number;
  unclassified_fraction?: number;
  classes: ClassArea[];
  uncertainty?: UncertaintyStats | null;
}

/** Socket.IO payloads. */
export interface ProgressEvent {
  result_id: string;
  progress: number;
  eta_s?: number | null;
  state?: ResultState;
}

export interface DoneEvent {
  result_id: string;
  state: ResultState;
}
