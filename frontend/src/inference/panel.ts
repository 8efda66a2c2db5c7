// Inference panel (issue "Applying apps"): mounted by main.ts.
//
// Choose an app, apply it to a region or slides, watch progress, then look at the result
// as an overlay with a probability threshold, read the areas and export.

import { ApiError, getJson, sendJson } from "../core/api";
import type { AppContext } from "../core/app";
import { showError, toast } from "../core/toast";
import { h } from "../core/dom";
import { ListBox, shortDate } from "../core/listbox";
import { loadText, saveText } from "../core/prefs";
import { AcceptControl } from "./accept";
import { ApplyForm } from "./apply";
import { AppList } from "./apps";
import { PostprocessingEditor } from "./postprocessingEditor";
import "./inference.css";
import type { Focus } from "./focus";
import { ResultQueue } from "./queue";
import { regionText } from "./region";
import { SuggestionList } from "./suggestions";
import type { ResultInfo, ResultState } from "./types";
import { ResultView } from "./view";

/** Build the inference panel inside `root`; `focus` flies the viewer to a place and
 * outlines it (the "label next" list). */
export function mountInferencePanel(
  root: HTMLElement,
  app: AppContext,
  focus: Focus | null = null,
): void {
  root.dataset.panel = "inference";
  root.classList.add("inf-panel");
  new InferencePanel(root, app, focus);
}

class InferencePanel {
  private readonly apps: AppList;
  private readonly form: ApplyForm;
  private readonly queue: ResultQueue;
  private readonly view: ResultView;
  private readonly postprocessing: PostprocessingEditor;
  private readonly suggestions: SuggestionList;
  private readonly accept: AcceptControl;
  private readonly errorBox = h("div", { class: "inf-error", role: "alert", hidden: true });
  private readonly results = new ListBox("inf-results", "Results on this slide", "none yet");

  constructor(
    private readonly root: HTMLElement,
    private readonly app: AppContext,
    focus: Focus | null = null,
  ) {
    this.apps = new AppList(app, (chosen) => {
      // Called after the app list loads, by which time the form exists.
      if (this.form) this.form.button.disabled = !chosen;
      this.postprocessing?.setApp(chosen);
    });
    this.form = new ApplyForm(app);
    this.queue = new ResultQueue(
      app.socket,
      (id, slideId, state) => this.finished(id, slideId, state),
      (message, hint) => this.showError(message, hint),
    );
    this.view = new ResultView(app, root.dataset);
    this.postprocessing = new PostprocessingEditor(app, (saved) =>
      this.view.postprocessingChanged(saved.id, saved.postprocessing_key ?? ""),
    );
    this.suggestions = new SuggestionList(app, focus);
    this.accept = new AcceptControl(app, {
      result: () => {
        const shown = this.view.current;
        return shown ? { id: shown.id, slideId: shown.slide_id } : null;
      },
      threshold: () => this.view.shownThreshold(),
      roi: () => this.form.chosenRoi(),
    });
    this.view.element.append(this.accept.element);
    // The live preview's places follow each refresh of it (the training panel says when).
    app.bus.on("preview:updated", ({ resultId }) => this.suggestions.show(resultId));
    root.replaceChildren(
      h("h2", { class: "inf-title" }, "Apply an app"),
      this.apps.element,
      this.postprocessing.element,
      this.form.element,
      this.queue.progress.element,
      this.errorBox,
      h(
        "div",
        { class: "inf-results-box" },
        h("strong", {}, "Results on this slide"),
        this.results.element,
      ),
      this.view.element,
      this.suggestions.element,
    );
    this.form.button.disabled = !this.apps.selected();
    this.form.button.addEventListener("click", () => void this.apply());
    this.results.onChange((id) => {
      this.remember(id);
      void this.showResult(id);
    });
    app.bus.on("slide:opened", () => void this.onSlideOpened());
    if (app.currentSlide()) void this.onSlideOpened();
  }

  private async onSlideOpened(): Promise<void> {
    this.view.clear();
    await this.loadResults();
    // A reload (or coming back to the slide) shows the result chosen last time.
    const slide = this.app.currentSlide();
    const chosen = slide ? loadText(`result:${slide.id}`) : null;
    const option = chosen
      ? this.results.all.find((item) => item.value === chosen && !item.disabled)
      : undefined;
    if (option && !this.view.current) await this.showResult(chosen!);
  }

  /** Keep the result chosen on the open slide across reloads ("" forgets it). */
  private remember(id: string): void {
    const slide = this.app.currentSlide();
    if (slide) saveText(`result:${slide.id}`, id || null);
  }

  /** The results of the open slide; running ones are followed, none is shown by itself. */
  private async loadResults(select?: string): Promise<void> {
    const slide = this.app.currentSlide();
    if (!slide) return;
    let list: ResultInfo[];
    try {
      list = await getJson<ResultInfo[]>(`/api/results?slide_id=${encodeURIComponent(slide.id)}`);
    } catch {
      list = [];
    }
    list = list.filter((r) => !r.preview);
    const rois = this.app.rois();
    this.results.setItems(
      list.map((r) => ({
        value: String(r.id),
        label: r.app_name ?? `app ${r.app_id}`,
        meta: [
          regionText(r.region, rois, slide.mpp),
          shortDate(r.created),
          r.state === "completed" ? "" : r.state,
        ]
          .filter(Boolean)
          .join(" · "),
        disabled: r.state !== "completed",
      })),
    );
    const running = list.filter(
      (r) => (r.state === "queued" || r.state === "running") && !this.queue.has(String(r.id)),
    );
    if (running.length)
      this.queue.add(
        running.map((r) => String(r.id)),
        running.map(() => slide.id),
        running.map(() => slide.name),
      );
    this.results.value = select ?? this.view.current?.id ?? "";
  }

  private async apply(): Promise<void> {
    this.hideError();
    const chosenApp = this.apps.selected();
    if (!chosenApp) return this.showError("Choose an app first.");
    const request = this.form.request(chosenApp.id);
    if ("error" in request) return this.showError(request.error);
    this.form.button.disabled = true;
    try {
      const answer = await sendJson<{ result_id?: string; result_ids?: string[] }>(
        "POST",
        "/api/inference",
        request.body,
      );
      const ids = (
        answer.result_ids ?? (answer.result_id !== undefined ? [answer.result_id] : [])
      ).map(String);
      this.queue.add(ids, request.slideIds, request.slideNames);
      void this.loadResults();
    } catch (error) {
      if (error instanceof ApiError) this.showError(error.message, error.hint);
      else showError(error);
    } finally {
      this.form.button.disabled = !this.apps.selected();
    }
  }

  private finished(id: string, slideId: string, state: ResultState): void {
    if (state === "completed") {
      if (slideId === this.app.currentSlide()?.id) {
        this.remember(id);
        void this.loadResults(id).then(() => this.showResult(id));
      } else toast("A result is ready: open its slide to see it.");
    } else if (state === "cancelled") toast("The inference was cancelled.");
    else if (state === "failed") void this.reportFailure(id);
  }

  private async reportFailure(id: string): Promise<void> {
    try {
      const result = await getJson<ResultInfo>(`/api/results/${encodeURIComponent(id)}`);
      this.showError(
        result.error?.message ?? "The inference failed.",
        result.error?.hint ?? undefined,
      );
    } catch {
      this.showError("The inference failed.");
    }
  }

  /** Show result `id` (or nothing for ""). */
  private async showResult(id: string): Promise<void> {
    if (!id) {
      this.suggestions.show(null);
      return this.view.clear();
    }
    try {
      const result = await getJson<ResultInfo>(`/api/results/${encodeURIComponent(id)}`);
      this.results.value = String(result.id);
      this.root.dataset.result = String(result.id);
      await this.view.show(result);
      this.suggestions.show(String(result.id));
    } catch (error) {
      showError(error);
    }
  }

  private showError(message: string, hint?: string | null): void {
    this.errorBox.replaceChildren(h("strong", {}, message));
    if (hint) this.errorBox.append(h("div", { class: "inf-hint" }, hint));
    this.errorBox.hidden = false;
  }

  private hideError(): void {
    this.errorBox.hidden = true;
  }
}
