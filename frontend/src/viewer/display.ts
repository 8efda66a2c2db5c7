// Brightness, contrast and gamma of the slide display: a small popover over the viewer whose
// sliders set a canvas filter applied to the slide's own tiles only (results, labels, the
// tissue overlay and the live preview keep their colours); kept in the browser's prefs.

import type OpenSeadragon from "openseadragon";
import { button, h } from "../core/dom";
import { loadNumber, saveNumber } from "../core/prefs";
import type { SlideViewer } from "./slideViewer";

/** A display adjustment: brightness and contrast as factors (1 = as scanned), gamma. */
export interface DisplaySettings {
  brightness: number;
  contrast: number;
  gamma: number;
}

export const NEUTRAL_DISPLAY: DisplaySettings = { brightness: 1, contrast: 1, gamma: 1 };

const GAMMA_FILTER_ID = "slidelab-gamma";

/** The canvas filter for `settings` ("none" when neutral); gamma by an SVG filter. */
export function displayFilter(settings: DisplaySettings): string {
  const parts: string[] = [];
  if (settings.gamma !== 1) parts.push(`url(#${GAMMA_FILTER_ID})`);
  if (settings.brightness !== 1) parts.push(`brightness(${settings.brightness})`);
  if (settings.contrast !== 1) parts.push(`contrast(${settings.contrast})`);
  return parts.length ? parts.join(" ") : "none";
}

/** The SVG filter's exponent for a display gamma: > 1 brightens the mid-tones. */
export function gammaExponent(gamma: number): number {
  return 1 / gamma;
}

interface SliderSpec {
  key: keyof DisplaySettings;
  label: string;
  min: number;
  max: number;
  step: number;
  text: (value: number) => string;
}

const SLIDERS: SliderSpec[] = [
  { key: "brightness", label: "Brightness", min: 0.5, max: 2, step: 0.05, text: percent },
  { key: "contrast", label: "Contrast", min: 0.5, max: 2, step: 0.05, text: percent },
  { key: "gamma", label: "Gamma", min: 0.4, max: 2.5, step: 0.05, text: (v) => v.toFixed(2) },
];

function percent(value: number): string {
  return `${Math.round(value * 100)} %`;
}

/** Minimal view of OpenSeadragon's canvas drawer, whose frame we wrap. */
interface CanvasDrawerLike {
  context: CanvasRenderingContext2D | null;
  canvas: HTMLCanvasElement;
  draw(tiledImages: OpenSeadragon.TiledImage[]): void;
  _drawTiles(tiledImage: OpenSeadragon.TiledImage): void;
}

/** Add the "Display" button and popover to `root`; filter `viewer`'s slide tiles. */
export function mountDisplayControls(viewer: SlideViewer, root: HTMLElement): void {
  const settings: DisplaySettings = {
    brightness: loadNumber("display-brightness", 1),
    contrast: loadNumber("display-contrast", 1),
    gamma: loadNumber("display-gamma", 1),
  };
  const funcs = installGammaFilter();
  let filter = "none";

  // Each frame: draw the slide (the world's first item), filter the canvas once (a
  // per-tile filter costs a software canvas far more), then draw the other items over it.
  const drawer = viewer.osd.drawer as unknown as CanvasDrawerLike;
  const draw = drawer.draw.bind(drawer);
  drawer.draw = (tiledImages) => {
    const context = drawer.context;
    if (filter === "none" || !context || !tiledImages.length) {
      draw(tiledImages);
      return;
    }
    const [slide, ...others] = tiledImages;
    draw([slide]);
    context.save();
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.globalCompositeOperation = "copy";
    context.filter = filter;
    context.drawImage(drawer.canvas, 0, 0);
    context.restore();
    for (const item of others) if (item.getOpacity() !== 0) drawer._drawTiles(item);
  };

  const popover = h("div", {
    class: "display-popover",
    role: "dialog",
    "aria-label": "Slide display",
    "data-testid": "display-popover",
    hidden: true,
  });
  const inputs = new Map<keyof DisplaySettings, HTMLInputElement>();
  const outputs = new Map<keyof DisplaySettings, HTMLOutputElement>();
  for (const spec of SLIDERS) {
    const input = h("input", {
      type: "range",
      min: spec.min,
      max: spec.max,
      step: spec.step,
      value: settings[spec.key],
      "aria-label": spec.label,
      "data-testid": `display-${spec.key}`,
    });
    const output = h("output", { class: "value" });
    input.addEventListener("input", () => {
      settings[spec.key] = Number(input.value);
      saveNumber(`display-${spec.key}`, settings[spec.key]);
      apply();
    });
    inputs.set(spec.key, input);
    outputs.set(spec.key, output);
    popover.append(h("label", { class: "display-row" }, h("span", {}, spec.label), input, output));
  }
  const reset = button(
    "Reset",
    "Show the slide as scanned",
    () => {
      Object.assign(settings, NEUTRAL_DISPLAY);
      for (const spec of SLIDERS) saveNumber(`display-${spec.key}`, settings[spec.key]);
      apply();
    },
    { "data-testid": "display-reset" },
  );
  popover.append(h("div", { class: "display-actions" }, reset));

  const toggle = button(
    "Display",
    "Brightness, contrast and gamma of the slide",
    () => {
      popover.hidden = !popover.hidden;
      toggle.setAttribute("aria-expanded", String(!popover.hidden));
    },
    { class: "display-toggle", "aria-expanded": "false", "data-testid": "display-toggle" },
  );
  root.prepend(popover, h("div", { class: "zoom-buttons" }, toggle));
  document.addEventListener("pointerdown", (event) => {
    if (!popover.hidden && !root.contains(event.target as Node)) {
      popover.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
    }
  });

  function apply(): void {
    for (const spec of SLIDERS) {
      root.dataset[`display-${spec.key}`.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())] =
        String(settings[spec.key]);
      inputs.get(spec.key)!.value = String(settings[spec.key]);
      outputs.get(spec.key)!.textContent = spec.text(settings[spec.key]);
    }
    const exponent = String(gammaExponent(settings.gamma));
    for (const func of funcs) func.setAttribute("exponent", exponent);
    filter = displayFilter(settings);
    toggle.classList.toggle("active", filter !== "none");
    root.dataset.display = filter;
    viewer.osd.forceRedraw();
  }
  apply();
}

/** The page's SVG gamma filter (one feComponentTransfer); its three transfer functions. */
function installGammaFilter(): SVGElement[] {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", "0");
  svg.setAttribute("height", "0");
  svg.setAttribute("aria-hidden", "true");
  svg.style.position = "absolute";
  const filter = document.createElementNS(ns, "filter");
  filter.id = GAMMA_FILTER_ID;
  filter.setAttribute("color-interpolation-filters", "sRGB");
  const transfer = document.createElementNS(ns, "feComponentTransfer");
  const funcs = ["feFuncR", "feFuncG", "feFuncB"].map((name) => {
    const func = document.createElementNS(ns, name);
    func.setAttribute("type", "gamma");
    func.setAttribute("amplitude", "1");
    func.setAttribute("offset", "0");
    func.setAttribute("exponent", "1");
    transfer.append(func);
    return func;
  });
  filter.append(transfer);
  svg.append(filter);
  document.body.append(svg);
  return funcs;
}
