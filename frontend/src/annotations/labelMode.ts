// How labels are drawn while a result is shown: as outlines (the result shows through,
// the default), filled, or hidden. A choice in the toolbar and the Shift+A key flip between
// them; with no result on screen labels are drawn filled as always.

import type { AppEvents } from "../core/app";
import { h } from "../core/dom";
import type { Bus } from "../core/events";
import { loadText, saveText } from "../core/prefs";
import { registerShortcut } from "../core/shortcuts";
import type { AnnotationOverlay, LabelStyle } from "./overlay";

const MODES: [LabelStyle, string][] = [
  ["outline", "Outlines"],
  ["filled", "Filled"],
  ["hidden", "Hidden"],
];
const PREF = "labels-over-result";

/** The next mode in the cycle outlines → filled → hidden → outlines. */
export function nextLabelMode(mode: LabelStyle): LabelStyle {
  const at = MODES.findIndex(([m]) => m === mode);
  return MODES[(at + 1) % MODES.length][0];
}

/** What a stored preference means (outlines when absent or unknown). */
export function parseLabelMode(text: string | null): LabelStyle {
  return MODES.some(([m]) => m === text) ? (text as LabelStyle) : "outline";
}

/**
 * Add the "Labels over a result" choice to `root`, register its key, and draw the labels
 * of `overlay` in the chosen style whenever `bus` says a result is on screen.
 */
export function mountLabelMode(
  root: HTMLElement,
  overlay: AnnotationOverlay,
  bus: Bus<AppEvents>,
): void {
  let mode = parseLabelMode(loadText(PREF));
  let resultShown = false;
  const choice = h("select", {
    "aria-label": "Labels while a result is shown (Shift+A)",
    title: "Labels while a result is shown: outlines, filled or hidden (Shift+A)",
    "data-testid": "label-mode",
  });
  for (const [value, text] of MODES) choice.append(h("option", { value }, text));
  root.append(
    h(
      "label",
      { class: "tool-group label-mode", title: choice.title },
      h("span", { class: "muted" }, "Labels over result"),
      choice,
    ),
  );

  const apply = () => {
    choice.value = mode;
    overlay.labelStyle = resultShown ? mode : "filled";
    root.dataset.labelStyle = overlay.labelStyle;
  };
  const setMode = (next: LabelStyle) => {
    mode = next;
    saveText(PREF, mode);
    apply();
  };
  choice.addEventListener("change", () => setMode(parseLabelMode(choice.value)));
  bus.on("result:shown", ({ resultId }) => {
    resultShown = resultId !== null;
    apply();
  });
  registerShortcut({
    keys: ["shift+a"],
    description: "Labels over a result: outlines, filled or hidden",
    group: "Display",
    handler: () => setMode(nextLabelMode(mode)),
  });
  apply();
}
