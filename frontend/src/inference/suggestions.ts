// "Label next": the places where the model shown is least sure, best first, from
// GET /api/results/<rid>/suggestions. It follows the result on screen (a result chosen in
// the panel, or the live preview each time it refreshes) and the labels (labelled places
// drop down the list); a click flies the viewer there and outlines the place.

import { ApiError, getJson } from "../core/api";
import type { AppContext } from "../core/app";
import { h } from "../core/dom";
import type { Rect } from "../core/geometry";
import type { Focus } from "./focus";

/** How many places the list shows. */
export const SUGGESTION_COUNT = 5;
/** Labels changed: ask again after this quiet time. */
const LABELS_SETTLE_MS = 800;

export interface Suggestion {
  bbox: Rect;
  score: number;
  mean_uncertainty: number;
}

export interface SuggestionAnswer {
  suggestions: Suggestion[];
  window_px: number;
}

/** The suggestions request of a result. */
export function suggestionsUrl(resultId: string, n = SUGGESTION_COUNT): string {
  return `/api/results/${encodeURIComponent(resultId)}/suggestions?n=${n}`;
}

/** Mean uncertainty 0..1 as a whole percent. */
export function uncertaintyPercent(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value * 100)} %` : "—";
}

export type QueueState = "idle" | "loading" | "ready" | "waiting" | "error";

/**
 * Which result the list is for and what the server answered; only the answer to the latest
 * request counts (a result changed while one was on its way).
 */
export class SuggestionQueue {
  resultId: string | null = null;
  items: Suggestion[] = [];
  state: QueueState = "idle";
  message = "";
  private requestId = 0;

  constructor(
    private readonly fetcher: (url: string) => Promise<SuggestionAnswer>,
    private readonly onChange: () => void,
  ) {}

  /** Follow `resultId` (null: none) and ask for its places. */
  load(resultId: string | null): Promise<void> {
    if (resultId !== this.resultId) this.items = [];
    this.resultId = resultId;
    return this.refresh();
  }

  /** Ask again for the result followed. */
  async refresh(): Promise<void> {
    const id = ++this.requestId;
    const resultId = this.resultId;
    if (!resultId) {
      this.items = [];
      this.state = "idle";
      this.message = "";
      this.onChange();
      return;
    }
    this.state = "loading";
    this.onChange();
    try {
      const answer = await this.fetcher(suggestionsUrl(resultId));
      if (id !== this.requestId) return;
      this.items = answer.suggestions;
      this.state = "ready";
      this.message = answer.suggestions.length ? "" : "No uncertain places in this result.";
    } catch (error) {
      if (id !== this.requestId) return;
      this.items = [];
      // 409: nothing written yet (a result still computing); it comes back when done.
      const waiting = error instanceof ApiError && error.status === 409;
      this.state = waiting ? "waiting" : "error";
      this.message = waiting
        ? "Waiting for the result…"
        : error instanceof Error
          ? error.message
          : String(error);
    }
    this.onChange();
  }
}

/** The list in the inference panel. */
export class SuggestionList {
  readonly element = h("div", { class: "inf-suggestions", hidden: true });
  private readonly list = h("ol", { class: "inf-suggestion-list" });
  private readonly note = h("div", { class: "inf-suggestion-note", role: "status" });
  readonly queue: SuggestionQueue;
  private picked: string | null = null;
  private labelsTimer: number | null = null;

  constructor(
    private readonly app: AppContext,
    private readonly focus: Focus | null,
  ) {
    this.queue = new SuggestionQueue(
      (url) => getJson<SuggestionAnswer>(url),
      () => this.render(),
    );
    this.element.append(
      h(
        "strong",
        { title: "Where the model is least sure: label these places next" },
        "Label next",
      ),
      this.list,
      this.note,
    );
    app.bus.on("slide:opened", () => {
      this.focus?.clear();
      void this.queue.load(null);
    });
    app.bus.on("annotations:changed", () => this.labelsChanged());
  }

  /** Follow the result on screen (null: none); a result shown again is asked again. */
  show(resultId: string | null): void {
    if (resultId !== this.queue.resultId) this.picked = null;
    void this.queue.load(resultId);
  }

  private labelsChanged(): void {
    if (!this.queue.resultId) return;
    if (this.labelsTimer !== null) window.clearTimeout(this.labelsTimer);
    this.labelsTimer = window.setTimeout(() => {
      this.labelsTimer = null;
      void this.queue.refresh();
    }, LABELS_SETTLE_MS);
  }

  private pick(item: Suggestion, key: string): void {
    this.picked = key;
    this.focus?.show(item.bbox);
    this.render();
  }

  private render(): void {
    const { state, items, message, resultId } = this.queue;
    this.element.hidden = resultId === null;
    this.element.dataset.state = state;
    this.element.dataset.result = resultId ?? "";
    const slide = this.app.currentSlide();
    this.list.replaceChildren(
      ...items.map((item, i) => {
        const key = item.bbox.join(",");
        const size =
          slide?.mpp && item.bbox[2]
            ? ` · ${Math.round(item.bbox[2] * slide.mpp)} µm`
            : ` · ${Math.round(item.bbox[2])} px`;
        const button = h(
          "button",
          {
            type: "button",
            class: "inf-suggestion",
            "data-testid": "suggestion",
            "data-bbox": key,
            "data-uncertainty": String(item.mean_uncertainty),
            "aria-pressed": String(this.picked === key),
            title: "Fly there and outline the place",
          },
          h("span", { class: "inf-suggestion-rank" }, `${i + 1}.`),
          ` ${uncertaintyPercent(item.mean_uncertainty)} uncertain`,
          h("span", { class: "inf-suggestion-size" }, size),
        );
        button.addEventListener("click", () => this.pick(item, key));
        return h("li", {}, button);
      }),
    );
    this.note.textContent = state === "loading" && !items.length ? "Looking…" : message;
  }
}
