// A ruler over the slide: M turns it on, a drag from A to B draws a line with its length
// (µm or mm from the slide's µm/px; px when the slide does not record it), Esc clears it.
// The two ends are kept in level-0 pixels, so the line follows zooming and panning.

import { button, h } from "../core/dom";
import { formatLength, formatNumber } from "../core/format";
import type { Position } from "../core/geometry";
import { registerShortcut } from "../core/shortcuts";
import type { SlideViewer } from "./slideViewer";

const SVG = "http://www.w3.org/2000/svg";

/** The length between two level-0 points as text ("404 µm", "1.23 mm", "812 px"). */
export function rulerText(a: Position, b: Position, mpp: number | null | undefined): string {
  const px = Math.hypot(b[0] - a[0], b[1] - a[1]);
  return mpp ? formatLength(px * mpp) : `${formatNumber(px)} px`;
}

/** The ruler's on/off handle. */
export interface Ruler {
  readonly active: boolean;
  setActive(on: boolean): void;
  clear(): void;
}

/** Mount the ruler layer on `stage` over `viewer`, its button in `buttonRoot`, key M. */
export function mountRuler(
  stage: HTMLElement,
  viewer: SlideViewer,
  buttonRoot: HTMLElement,
): Ruler {
  const svg = document.createElementNS(SVG, "svg");
  svg.classList.add("ruler-layer");
  svg.dataset.testid = "ruler-layer";
  const halo = document.createElementNS(SVG, "line");
  halo.classList.add("ruler-halo");
  const line = document.createElementNS(SVG, "line");
  line.classList.add("ruler-line");
  const ends = [0, 1].map(() => {
    const end = document.createElementNS(SVG, "circle");
    end.classList.add("ruler-end");
    end.setAttribute("r", "4");
    return end;
  });
  svg.append(halo, line, ...ends);
  const label = h("div", { class: "ruler-label", "data-testid": "ruler-label", hidden: true });
  stage.append(svg, label);

  let active = false;
  let a: Position | null = null;
  let b: Position | null = null;
  let dragging = false;

  const toggleButton = button(
    "Ruler",
    "Measure a distance (M); Esc clears",
    () => ruler.setActive(!active),
    {
      class: "ruler-toggle",
      "aria-pressed": "false",
      "data-testid": "ruler-toggle",
    },
  );
  buttonRoot.append(h("div", { class: "zoom-buttons" }, toggleButton));

  const render = () => {
    const shown = a !== null && b !== null && viewer.slide() !== null;
    svg.classList.toggle("has-line", shown);
    label.hidden = !shown;
    if (!shown || !a || !b) return;
    const [x1, y1] = viewer.toScreen(...a);
    const [x2, y2] = viewer.toScreen(...b);
    for (const l of [halo, line]) {
      l.setAttribute("x1", String(x1));
      l.setAttribute("y1", String(y1));
      l.setAttribute("x2", String(x2));
      l.setAttribute("y2", String(y2));
    }
    ends[0].setAttribute("cx", String(x1));
    ends[0].setAttribute("cy", String(y1));
    ends[1].setAttribute("cx", String(x2));
    ends[1].setAttribute("cy", String(y2));
    const text = rulerText(a, b, viewer.slide()?.mpp);
    if (label.textContent !== text) label.textContent = text;
    label.dataset.lengthPx = String(Math.hypot(b[0] - a[0], b[1] - a[1]));
    // Beside the end point, kept inside the stage.
    const x = Math.min(Math.max(x2 + 10, 4), stage.clientWidth - label.offsetWidth - 4);
    const y = Math.min(Math.max(y2 - 28, 4), stage.clientHeight - label.offsetHeight - 4);
    label.style.transform = `translate(${x}px, ${y}px)`;
  };

  const point = (event: PointerEvent): Position => {
    const rect = stage.getBoundingClientRect();
    return viewer.toImage(event.clientX - rect.left, event.clientY - rect.top);
  };
  svg.addEventListener("pointerdown", (event) => {
    if (!active || event.button !== 0 || !viewer.slide()) return;
    event.preventDefault();
    svg.setPointerCapture(event.pointerId);
    dragging = true;
    a = point(event);
    b = a;
    render();
  });
  svg.addEventListener("pointermove", (event) => {
    if (!dragging) return;
    b = point(event);
    render();
  });
  const stop = (event: PointerEvent) => {
    if (!dragging) return;
    dragging = false;
    b = point(event);
    if (svg.hasPointerCapture(event.pointerId)) svg.releasePointerCapture(event.pointerId);
    render();
  };
  svg.addEventListener("pointerup", stop);
  svg.addEventListener("pointercancel", stop);
  svg.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      viewer.wheel(event);
    },
    { passive: false },
  );
  viewer.onViewChange(render);

  const ruler: Ruler = {
    get active() {
      return active;
    },
    setActive(on: boolean) {
      active = on;
      svg.classList.toggle("active", on);
      stage.dataset.ruler = on ? "on" : "off";
      toggleButton.setAttribute("aria-pressed", String(on));
      if (!on) ruler.clear();
    },
    clear() {
      a = b = null;
      dragging = false;
      render();
    },
  };
  registerShortcut({
    keys: ["m"],
    description: "Ruler: drag to measure a distance",
    group: "Tools",
    handler: () => ruler.setActive(!active),
  });
  registerShortcut({
    keys: ["escape"],
    description: "Clear the ruler's measurement",
    group: "Tools",
    shared: true,
    handler: () => {
      if (!active && a === null) return false;
      if (a !== null) ruler.clear();
      else ruler.setActive(false);
    },
  });
  stage.dataset.ruler = "off";
  return ruler;
}
