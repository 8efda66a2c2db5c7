// The slide list: thumbnails, names, dimensions, resolution; unreadable files with the reason.

import { getJson, sendJson } from "../core/api";
import type { SlideSummary } from "../core/app";
import { button, h } from "../core/dom";
import { showError, toast } from "../core/toast";
import { formatDimensions, formatResolution } from "./format";

const THUMB_SIZE = 128;

export class SlideList {
  private slides: SlideSummary[] = [];
  private activeId: string | null = null;
  private readonly items: HTMLElement;
  private readonly count: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly onOpen: (slide: SlideSummary) => void,
  ) {
    this.count = h("span", { class: "muted", "data-testid": "slide-count" });
    const rescan = button("Rescan", "Look for new or changed slide files", () => this.rescan(), {
      class: "small",
      "data-testid": "rescan",
    });
    this.items = h("ul", { class: "slide-items", "aria-label": "Slides" });
    root.append(
      h("div", { class: "panel-head" }, h("h2", { text: "Slides" }), this.count, rescan),
      this.items,
    );
  }

  /** Fetch the list from the server. */
  async load(): Promise<SlideSummary[]> {
    this.render(await getJson<SlideSummary[]>("/api/slides"));
    return this.slides;
  }

  /** Ask the server to walk the slide folders again. */
  async rescan(): Promise<void> {
    try {
      const before = this.slides.length;
      this.render(await sendJson<SlideSummary[]>("POST", "/api/slides/rescan"));
      const added = this.slides.length - before;
      toast(added > 0 ? `${added} new slide(s) found` : "Slide list is up to date");
    } catch (error) {
      showError(error);
    }
  }

  /** A listed slide by id. */
  find(id: string): SlideSummary | undefined {
    return this.slides.find((s) => s.id === id);
  }

  /** Highlight the open slide. */
  setActive(id: string | null): void {
    this.activeId = id;
    for (const node of this.items.querySelectorAll<HTMLElement>("[data-slide-id]")) {
      const active = node.dataset.slideId === id;
      node.classList.toggle("active", active);
      if (active) node.setAttribute("aria-current", "true");
      else node.removeAttribute("aria-current");
    }
  }

  private render(slides: SlideSummary[]): void {
    this.slides = slides;
    const readable = slides.filter((s) => s.readable).length;
    this.count.textContent =
      readable === slides.length ? `${slides.length}` : `${readable}/${slides.length} readable`;
    this.items.replaceChildren(...slides.map((s) => this.item(s)));
    if (!slides.length) {
      this.items.append(h("li", { class: "empty muted" }, "No slides found in the slide folders."));
    }
    this.setActive(this.activeId);
  }

  private item(slide: SlideSummary): HTMLElement {
    const thumb = slide.readable
      ? h("img", {
          src: `/api/slides/${encodeURIComponent(slide.id)}/thumbnail?size=${THUMB_SIZE}`,
          alt: "",
          loading: "lazy",
          decoding: "async",
        })
      : h("span", { class: "thumb-missing", "aria-hidden": "true" }, "✕");
    const details = slide.readable
      ? [
          h("span", { class: "slide-meta" }, formatDimensions(slide)),
          h("span", { class: "slide-meta" }, formatResolution(slide)),
        ]
      : [h("span", { class: "slide-error" }, slide.error ?? "Cannot be read")];
    const body = h(
      "button",
      {
        type: "button",
        class: "slide-item",
        disabled: !slide.readable,
        title: slide.readable ? `Open ${slide.path}` : `${slide.path}: ${slide.error ?? ""}`,
        "aria-label": slide.readable ? `Open slide ${slide.name}` : `${slide.name} (unreadable)`,
      },
      h("span", { class: "thumb" }, thumb),
      h(
        "span",
        { class: "slide-text" },
        h("span", { class: "slide-name" }, slide.name),
        ...details,
      ),
    );
    body.addEventListener("click", () => this.onOpen(slide));
    return h(
      "li",
      {
        "data-testid": "slide-item",
        "data-slide-id": slide.id,
        "data-readable": String(slide.readable),
        class: slide.readable ? "" : "unreadable",
      },
      body,
    );
  }
}
