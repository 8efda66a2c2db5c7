// Zoom controls over the viewer: magnification presets, +/−/fit, the current magnification
// and a scale bar computed from the slide's µm/px.

import { button, frameThrottle, h } from "../core/dom";
import { icon } from "../core/icons";
import { formatMagnification } from "../core/magnification";
import { PRESET_MAGNIFICATIONS, imageZoomFor, magnificationAt } from "./magnification";
import { chooseScaleBar } from "./scaleBarMath";
import type { SlideViewer } from "./slideViewer";

const ZOOM_STEP = 1.5;

/** Build the controls inside `zoomRoot` and the scale bar inside `scaleRoot`. */
export function mountViewControls(
  viewer: SlideViewer,
  zoomRoot: HTMLElement,
  scaleRoot: HTMLElement,
): void {
  const readout = h("span", {
    class: "mag-readout",
    "data-testid": "magnification",
    title: "Current magnification",
  });
  const presets = PRESET_MAGNIFICATIONS.map((mag) =>
    button(
      `${mag}×`,
      `Zoom to ${mag}× magnification`,
      () => {
        const base = viewer.baseMagnification();
        if (base) viewer.zoomTo(imageZoomFor(mag, base));
      },
      { class: "mag-button", "data-testid": `mag-${mag}`, "data-mag": mag },
    ),
  );
  zoomRoot.append(
    h("div", { class: "mag-presets", role: "group", "aria-label": "Magnification" }, ...presets),
    h(
      "div",
      { class: "zoom-buttons", role: "group", "aria-label": "Zoom" },
      button(icon("plus", 16), "Zoom in (+)", () => viewer.zoomBy(ZOOM_STEP), {
        "data-testid": "zoom-in",
      }),
      button(icon("minus", 16), "Zoom out (−)", () => viewer.zoomBy(1 / ZOOM_STEP), {
        "data-testid": "zoom-out",
      }),
      button(icon("fit", 16), "Fit the whole slide (0)", () => viewer.home(), {
        "data-testid": "zoom-fit",
      }),
      readout,
    ),
  );

  const bar = h("div", { class: "scale-bar-line" });
  const label = h("span", { class: "scale-bar-label" });
  scaleRoot.append(bar, label);
  scaleRoot.dataset.testid = "scale-bar";

  const update = frameThrottle(() => {
    const slide = viewer.slide();
    const zoom = viewer.imageZoom();
    const base = viewer.baseMagnification();
    zoomRoot.hidden = !slide;
    const text = base && zoom ? formatMagnification(magnificationAt(zoom, base)) : "";
    if (readout.textContent !== text) readout.textContent = text;
    const current = base && zoom ? magnificationAt(zoom, base) : 0;
    for (const node of presets) {
      node.disabled = !base;
      const near = Math.abs(current / Number(node.dataset.mag) - 1) < 0.01;
      if (node.getAttribute("aria-pressed") !== String(near)) {
        node.setAttribute("aria-pressed", String(near));
      }
    }
    const choice = slide?.mpp && zoom ? chooseScaleBar(slide.mpp / zoom, 160) : null;
    scaleRoot.hidden = !choice;
    if (choice) {
      const width = `${choice.widthPx.toFixed(1)}px`;
      if (bar.style.width !== width) bar.style.width = width;
      if (label.textContent !== choice.label) label.textContent = choice.label;
      scaleRoot.dataset.um = String(choice.lengthUm);
    }
  });
  viewer.onViewChange(update);
  update();
}
