// The viewer's keys (arrows pan, + and − zoom, 0 fits), registered in the shortcut registry.

import { registerShortcut } from "../core/shortcuts";
import type { SlideViewer } from "./slideViewer";

const ZOOM_STEP = 1.5;

/** Register the pan and zoom keys for `viewer`. */
export function registerViewKeys(viewer: SlideViewer): void {
  const pan = (fx: number, fy: number) => () => {
    const [w, h] = viewer.size();
    viewer.panBy(w * fx, h * fy);
  };
  const group = "View";
  registerShortcut({
    keys: ["arrowleft", "arrowright", "arrowup", "arrowdown"],
    label: "← → ↑ ↓",
    description: "Pan the slide (an eighth of the view)",
    group,
    handler: (event) => {
      const step = DIRECTIONS[event.key.toLowerCase()];
      if (!step) return false;
      pan(step[0] / 8, step[1] / 8)();
    },
  });
  registerShortcut({
    keys: ["shift+arrowleft", "shift+arrowright", "shift+arrowup", "shift+arrowdown"],
    label: "Shift + ← → ↑ ↓",
    description: "Pan the slide (half the view)",
    group,
    handler: (event) => {
      const step = DIRECTIONS[event.key.toLowerCase()];
      if (!step) return false;
      pan(step[0] / 2, step[1] / 2)();
    },
  });
  registerShortcut({
    keys: ["+", "="],
    description: "Zoom in",
    group,
    handler: () => viewer.zoomBy(ZOOM_STEP),
  });
  registerShortcut({
    keys: ["-", "_"],
    description: "Zoom out",
    group,
    handler: () => viewer.zoomBy(1 / ZOOM_STEP),
  });
  registerShortcut({
    keys: ["0"],
    description: "Fit the whole slide",
    group,
    handler: () => viewer.home(),
  });
}

const DIRECTIONS: Record<string, [number, number]> = {
  arrowleft: [-1, 0],
  arrowright: [1, 0],
  arrowup: [0, -1],
  arrowdown: [0, 1],
};
