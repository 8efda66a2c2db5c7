// "Accept as labels": the shown result's prediction at the current threshold becomes labels
// of the same-named classes inside the chosen ROI (else the current view), as one undoable
// edit (POST /api/results/<rid>/accept). The annotation session hears of it over Socket.IO
// like any other edit; a notice says what was added and its Undo takes the step back.

import { sendJson } from "../core/api";
import type { AppContext } from "../core/app";
import { h } from "../core/dom";
import { formatAreaUm2 } from "../core/format";
import type { Rect } from "../core/geometry";
import { visibleBox } from "../core/geometry";
import { showError, toast } from "../core/toast";

/** Sent with the Undo so the page's own annotation session follows it from the broadcast. */
const ACCEPT_CLIENT = `accept-${Math.random().toString(36).slice(2, 10)}`;

export type AcceptRegion = { roi_id: number } | { bbox: Rect };

export interface AcceptedClass {
  id: number | null;
  name: string;
  area_um2: number | null;
}

export interface AcceptAnswer {
  accepted: { classes: AcceptedClass[] };
  version?: number;
}

/** The region accepted: the chosen ROI, else the view; null when neither exists. */
export function acceptRegion(roiId: number | null, view: Rect | null): AcceptRegion | null {
  if (roiId !== null && Number.isFinite(roiId)) return { roi_id: roiId };
  if (view && view[2] > 0 && view[3] > 0) return { bbox: view.map(Math.round) as Rect };
  return null;
}

/** What was added, in words: "Added Tissue 0.12 mm², Background 4,200 µm² as labels". */
export function acceptedText(classes: AcceptedClass[]): string {
  const added = classes.filter((c) => (c.area_um2 ?? 0) > 0);
  if (!added.length) return "Nothing was predicted there at this threshold: no labels added.";
  const parts = added.map((c) => `${c.name} ${formatAreaUm2(c.area_um2)}`);
  return `Added ${parts.join(", ")} as labels`;
}

/** What the button needs from the panel. */
export interface AcceptSource {
  /** The result shown (id and slide), or null. */
  result(): { id: string; slideId: string } | null;
  /** The threshold the overlay shows, 0..1. */
  threshold(): number;
  /** The ROI chosen in the apply form, or null for the view. */
  roi(): number | null;
}

/** The button and the notice after it. */
export class AcceptControl {
  readonly element = h("div", { class: "inf-accept" });
  private readonly button = h(
    "button",
    {
      type: "button",
      class: "inf-accept-button",
      "data-testid": "accept-labels",
      title:
        "Turn the prediction at this threshold into labels inside the chosen ROI, else the view (replaces labels there; undoable)",
    },
    "Accept as labels",
  );
  private readonly notice = h("div", { class: "inf-accept-notice", role: "status", hidden: true });
  private undoSlide: string | null = null;
  /** The slide's annotation version the accept made; a later one means other changes
   * came after it, and Undo (which takes back the slide's last step) would undo those. */
  private acceptedVersion = 0;

  constructor(
    private readonly app: AppContext,
    private readonly source: AcceptSource,
  ) {
    this.element.append(this.button, this.notice);
    this.button.addEventListener("click", () => void this.accept());
    app.bus.on("slide:opened", () => this.hideNotice());
    app.socket.on("annotations:changed", (e: { slide_id: string; version: number }) => {
      if (this.undoSlide && e.slide_id === this.undoSlide && e.version > this.acceptedVersion)
        this.hideNotice();
    });
  }

  private async accept(): Promise<void> {
    const result = this.source.result();
    if (!result) return;
    const region = acceptRegion(this.source.roi(), visibleBox(this.app));
    if (!region) {
      toast("Show part of the slide, or choose an ROI, to accept labels there.");
      return;
    }
    this.button.disabled = true;
    try {
      const answer = await sendJson<AcceptAnswer>(
        "POST",
        `/api/results/${encodeURIComponent(result.id)}/accept`,
        { region, threshold: this.source.threshold() },
      );
      const text = acceptedText(answer.accepted?.classes ?? []);
      toast(text);
      this.acceptedVersion = answer.version ?? 0;
      this.showNotice(text, result.slideId);
    } catch (error) {
      showError(error);
    } finally {
      this.button.disabled = false;
    }
  }

  private showNotice(text: string, slideId: string): void {
    this.undoSlide = slideId;
    const undo = h(
      "button",
      { type: "button", class: "inf-accept-undo", "data-testid": "accept-undo" },
      "Undo",
    );
    undo.addEventListener("click", () => void this.undo());
    this.notice.replaceChildren(h("span", {}, text, " "), undo);
    this.notice.hidden = false;
  }

  private hideNotice(): void {
    this.undoSlide = null;
    this.acceptedVersion = 0;
    this.notice.hidden = true;
    this.notice.replaceChildren();
  }

  private async undo(): Promise<void> {
    const slideId = this.undoSlide;
    if (!slideId) return;
    this.hideNotice();
    try {
      await sendJson("POST", `/api/slides/${encodeURIComponent(slideId)}/annotations/undo`, {
        client_id: ACCEPT_CLIENT,
      });
      toast("The accepted labels were taken back.");
    } catch (error) {
      showError(error);
    }
  }
}
