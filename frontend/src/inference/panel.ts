// Inference panel (issue "Applying apps"): mounted by main.ts.

import type { AppContext } from "../core/app";

/** Build the inference panel inside `root`. */
export function mountInferencePanel(root: HTMLElement, app: AppContext): void {
  void app;
  root.dataset.panel = "inference";
}
