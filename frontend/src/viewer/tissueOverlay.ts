// The detected tissue laid over the slide (GET /api/slides/<id>/tissue.png): what a
// "tissue" region takes in at the chosen sensitivity. The Apply form asks for it through the
// bus ("tissue:preview"); the image covers the slide's level-0 extent and follows the view.

import type { AppEvents } from "../core/app";
import type { Bus } from "../core/events";
import type { SlideViewer } from "./slideViewer";

/** Wait this long after the last slider move before asking the server again. */
const DEBOUNCE_MS = 120;

/** The URL of the tissue overlay of `slideId` at `sensitivity` (0–1). */
export function tissueUrl(slideId: string, sensitivity: number): string {
  return `/api/slides/${encodeURIComponent(slideId)}/tissue.png?sensitivity=${sensitivity}`;
}

/** Lay the tissue overlay on `stage` over `viewer`, shown and tuned through `bus`. */
export function mountTissueOverlay(
  stage: HTMLElement,
  viewer: SlideViewer,
  bus: Bus<AppEvents>,
): void {
  const image = document.createElement("img");
  image.className = "tissue-overlay";
  image.alt = "";
  image.hidden = true;
  image.dataset.testid = "tissue-overlay";
  // Above the slide, below the labels and the drawing layers.
  stage.insertBefore(image, stage.querySelector(".layer-cached"));

  let wanted: number | null = null;
  let shownFor = "";
  let timer: number | null = null;
  let request = 0;
  let objectUrl: string | null = null;

  const place = () => {
    const slide = viewer.slide();
    if (image.hidden || !slide?.width || !slide.height) return;
    const [left, top] = viewer.toScreen(0, 0);
    const [right, bottom] = viewer.toScreen(slide.width, slide.height);
    image.style.transform = `translate(${left}px, ${top}px)`;
    image.style.width = `${right - left}px`;
    image.style.height = `${bottom - top}px`;
  };

  const load = async () => {
    timer = null;
    const slide = viewer.slide();
    if (wanted === null || !slide) {
      image.hidden = true;
      stage.dataset.tissue = "";
      return;
    }
    const key = `${slide.id}@${wanted}`;
    if (key === shownFor) {
      image.hidden = false;
      place();
      return;
    }
    const seq = ++request;
    stage.dataset.tissue = "loading";
    const response = await fetch(tissueUrl(slide.id, wanted), { credentials: "same-origin" });
    if (seq !== request || !response.ok) return;
    const blob = await response.blob();
    if (seq !== request) return;
    const url = URL.createObjectURL(blob);
    image.onload = () => {
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = url;
      shownFor = key;
      image.hidden = wanted === null;
      place();
      stage.dataset.tissue = String(wanted);
      stage.dataset.tissueFraction = response.headers.get("X-Tissue-Fraction") ?? "";
    };
    image.src = url;
  };

  const schedule = (delay: number) => {
    if (timer !== null) window.clearTimeout(timer);
    timer = window.setTimeout(() => void load(), delay);
  };

  bus.on("tissue:preview", ({ sensitivity }) => {
    const first = wanted === null;
    wanted = sensitivity;
    if (sensitivity === null) {
      request += 1;
      image.hidden = true;
      stage.dataset.tissue = "";
      return;
    }
    schedule(first ? 0 : DEBOUNCE_MS);
  });
  bus.on("slide:opened", () => {
    image.hidden = true;
    shownFor = "";
    if (wanted !== null) schedule(0);
  });
  viewer.onViewChange(place);
}
