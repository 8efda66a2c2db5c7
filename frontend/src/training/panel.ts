// Training panel (issue "Training deep-learning apps"): mounted by main.ts.

import type { AppContext } from "../core/app";

/** Build the training panel inside `root`. */
export function mountTrainingPanel(root: HTMLElement, app: AppContext): void {
  void app;
  root.dataset.panel = "training";
}
