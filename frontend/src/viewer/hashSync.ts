// Keeps the URL hash in step with the viewer, and follows hash edits (back, pasted links).

import type { SlideViewer } from "./slideViewer";
import { formatHash, parseHash, type ViewState } from "./urlState";

const WRITE_DELAY_MS = 250;

/** The view named by the page's hash right now, or null. */
export function currentHashState(): ViewState | null {
  return parseHash(location.hash);
}

/**
 * Write the viewer's view into the hash (debounced, replaceState so history is not flooded)
 * and call `onNavigate` when the user changes the hash by hand.
 */
export function syncHash(viewer: SlideViewer, onNavigate: (state: ViewState) => void): void {
  let timer: number | undefined;
  let written = location.hash;

  const write = () => {
    timer = undefined;
    const slide = viewer.slide();
    const view = viewer.view();
    if (!slide || !view || !(view.z > 0)) return;
    const hash = formatHash({ slide: slide.id, ...view });
    if (hash !== location.hash) {
      history.replaceState(null, "", hash);
    }
    written = hash;
  };

  viewer.onViewChange(() => {
    if (timer !== undefined) clearTimeout(timer);
    timer = window.setTimeout(write, WRITE_DELAY_MS);
  });

  window.addEventListener("hashchange", () => {
    if (location.hash === written) return;
    written = location.hash;
    const state = parseHash(location.hash);
    if (state) onNavigate(state);
  });
}
