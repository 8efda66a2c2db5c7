// Training panel (issue "Training deep-learning apps"): mounted by main.ts.
//
// Shows one run at a time (the active one on load, else the newest), follows it over
// Socket.IO, and offers the controls its state allows.

import { ApiError, getJson, sendJson } from "../core/api";
import type { AppContext } from "../core/app";
import { registerShortcut } from "../core/shortcuts";
import { showError, toast } from "../core/toast";
import { h, select } from "../core/dom";
import { formatEta, formatMetric, type Metric } from "../core/format";
import { finalElement, validationTables, weightsText } from "../core/figures";
import { AdvancedDialog } from "./advanced";
import { ConvergenceChart } from "./chart";
import { askContinue } from "./continueDialog";
import type { ChartView } from "./chartdata";
import { buttonsFor, isActive, stateLabel, type ButtonStates } from "./controls";
import { BasicForm } from "./form";
import { formatPreparing, formatSeconds, formatSpeed } from "./format";
import { mergePoints } from "./history";
import { LivePreview } from "./preview";
import { runFromEvent } from "./runUpdate";
import { normaliseFieldName } from "./settings";
import { TargetPicker } from "./targets";
import { tensorBoardControl } from "./tensorboard";
import "./training.css";
import type {
  HistoryPoint,
  IterationEvent,
  JobError,
  ProgressEvent,
  Run,
  RunState,
  StateEvent,
  TrainingOptions,
} from "./types";
import { RunWatcher } from "./watch";

type Action = "pause" | "resume" | "stop" | "continue";

/** "U-Net (Default) · stopped · 14:03" for the run list. */
function runLabel(run: Run, architecture: string): string {
  const created =
    typeof run.created === "number"
      ? new Date(run.created * 1000)
      : run.created
        ? new Date(run.created)
        : null;
  const when =
    created && !Number.isNaN(created.getTime())
      ? ` · ${created.toLocaleString([], { dateStyle: "short", timeStyle: "short" })}`
      : "";
  return `${architecture.replace(/ \(Default\)$/, "")} · ${run.state}${when}`;
}

/** Build the training panel inside `root`. */
export function mountTrainingPanel(root: HTMLElement, app: AppContext): void {
  root.dataset.panel = "training";
  root.classList.add("tr-panel");
  root.replaceChildren(
    h("h2", { class: "tr-title" }, "Training"),
    h("p", { class: "tr-loading" }, "Loading…"),
  );
  getJson<TrainingOptions>("/api/training/options").then(
    (options) => new TrainingPanel(root, app, options),
    (error) => {
      root.querySelector(".tr-loading")!.textContent = `Training is not available: ${
        error instanceof Error ? error.message : String(error)
      }`;
    },
  );
}

class TrainingPanel {
  private run: Run | null = null;
  private points: HistoryPoint[] = [];
  private busy = false;
  /** Socket state events seen: a control answer older than one of them keeps its state out. */
  private stateEvents = 0;
  private chartQueued = false;
  private readonly form: BasicForm;
  private readonly targets: TargetPicker;
  private readonly advanced: AdvancedDialog;
  private readonly chart: ConvergenceChart;
  private readonly watcher: RunWatcher;
  private readonly preview: LivePreview;
  private readonly buttons: Record<keyof ButtonStates, HTMLButtonElement>;
  private readonly badge = h("span", { class: "tr-badge", "data-state": "idle" }, "idle");
  private readonly archName = h("span", { class: "tr-arch-name" });
  private readonly current = h("span", { class: "tr-current" });
  private readonly speed = h("div", { class: "tr-speed" });
  private readonly errorBox = h("div", { class: "tr-error", role: "alert", hidden: true });
  private readonly warningBox = h("ul", { class: "tr-warnings", role: "status", hidden: true });
  private readonly outcomeBox = h("div", { class: "tr-outcome", hidden: true });
  private outcomeKey = "";
  /** The run whose settings the form was filled with. */
  private formRunId: string | null = null;
  private readonly runSelect = h("select", { class: "tr-runs", "aria-label": "Run" });
  private readonly metric: HTMLSelectElement;
  private readonly smoothing = h("input", {
    type: "range",
    min: "0",
    max: "0.99",
    step: "0.01",
    class: "tr-smoothing",
  });
  private readonly log = h("input", { type: "checkbox", class: "tr-log" });
  private readonly previewToggle = h("input", { type: "checkbox", class: "tr-preview-toggle" });
  private readonly previewStatus = h("span", { class: "tr-preview-status" });
  private readonly chartBox: HTMLElement;
  /** The expanded chart's heading: the architecture and the final values beside it. */
  private readonly chartTitle = h("div", { class: "tr-chart-title" });
  private readonly expandButton = h(
    "button",
    { type: "button", class: "tr-chart-expand", title: "Show the curve large (Esc closes)" },
    "Expand",
  );

  constructor(
    private readonly root: HTMLElement,
    private readonly app: AppContext,
    options: TrainingOptions,
  ) {
    this.form = new BasicForm(options);
    this.targets = new TargetPicker(app);
    this.advanced = new AdvancedDialog(
      options,
      () => this.targets.chosen(),
      () => this.form.architecture.value,
    );
    this.buttons = {
      train: h("button", { type: "button", class: "tr-train primary" }, "Train"),
      pause: h("button", { type: "button", class: "tr-pause" }, "Pause"),
      resume: h("button", { type: "button", class: "tr-resume" }, "Resume"),
      stop: h("button", { type: "button", class: "tr-stop" }, "Stop"),
      continue: h("button", { type: "button", class: "tr-continue" }, "Continue"),
    };
    this.metric = select(
      [
        ["loss", "Loss"],
        ["error_rate", "Error rate (%)"],
      ],
      "loss",
      { class: "tr-metric", "aria-label": "Curve" },
    );
    this.smoothing.value = "0.6";
    const chartHost = h("div", { class: "tr-chart" });
    this.chartBox = h(
      "div",
      { class: "tr-chart-box" },
      this.chartTitle,
      this.chartControls(),
      chartHost,
    );
    this.render(options);
    this.chart = new ConvergenceChart(chartHost, this.view());
    this.watcher = new RunWatcher(app.socket, {
      history: (e) => {
        if (this.run && e.settings) this.loadForm(this.run.id, e.settings);
        this.points = e.history ?? [];
        this.applyRun({ ...runFromEvent(e), settings: e.settings, class_info: e.class_info });
        this.drawChart();
      },
      iteration: (e) => this.onIteration(e),
      state: (e) => this.onState(e),
      progress: (e) => this.onProgress(e),
      error: (e) => this.showJobError(e),
    });
    this.preview = new LivePreview(
      app,
      () => this.run?.id ?? null,
      () => this.run?.state === "running",
      (text) => {
        this.previewStatus.textContent = text;
        root.dataset.previewVersion = String(this.preview?.version ?? 0);
      },
      (loaded, resultId) => {
        root.dataset.preview = resultId ?? "";
        root.dataset.previewLoaded = String(loaded);
      },
    );
    this.bind();
    this.updateStatus();
    void this.loadRuns(true);
  }

  private view(): ChartView {
    return {
      metric: this.metric.value as Metric,
      smoothing: Number(this.smoothing.value),
      log: this.log.checked,
    };
  }

  private chartControls(): HTMLElement {
    return h(
      "div",
      { class: "tr-chart-controls" },
      this.metric,
      h("label", { class: "tr-inline-label" }, "smoothing ", this.smoothing),
      h("label", { class: "tr-inline-label" }, this.log, " log"),
      this.expandButton,
    );
  }

  /** Give the curve room: a large panel over the page, or back into the column. */
  private setExpanded(expanded: boolean): void {
    this.chartBox.classList.toggle("tr-expanded", expanded);
    this.root.dataset.chartExpanded = String(expanded);
    this.expandButton.textContent = expanded ? "Close" : "Expand";
    this.chart.resize();
  }

  private render(options: TrainingOptions): void {
    const advancedButton = h(
      "button",
      { type: "button", class: "tr-advanced" },
      "Advanced settings…",
    );
    advancedButton.addEventListener("click", () => this.advanced.open());
    const b = this.buttons;
    this.root.replaceChildren(
      h(
        "h2",
        { class: "tr-title" },
        "Training",
        h("small", { class: "tr-device" }, ` on ${options.device.toUpperCase()}`),
      ),
      h("div", { class: "tr-headline" }, this.archName, this.current, this.badge),
      this.form.element,
      this.targets.element,
      h(
        "div",
        { class: "tr-buttons" },
        b.train,
        b.pause,
        b.resume,
        b.stop,
        b.continue,
        advancedButton,
      ),
      this.errorBox,
      this.warningBox,
      this.speed,
      this.chartBox,
      this.outcomeBox,
      h(
        "div",
        { class: "tr-footer" },
        h("label", { class: "tr-inline-label" }, this.previewToggle, " live preview"),
        this.previewStatus,
        tensorBoardControl(),
        h("label", { class: "tr-inline-label" }, "run ", this.runSelect),
      ),
    );
  }

  private bind(): void {
    this.buttons.train.addEventListener("click", () => void this.train());
    for (const action of ["pause", "resume", "stop", "continue"] as Action[]) {
      this.buttons[action].addEventListener("click", () => void this.control(action));
    }
    for (const el of [this.metric, this.smoothing, this.log]) {
      el.addEventListener("input", () => this.chart.setView(this.view()));
    }
    this.expandButton.addEventListener("click", () =>
      this.setExpanded(!this.chartBox.classList.contains("tr-expanded")),
    );
    registerShortcut({
      keys: ["escape"],
      description: "Shrink the expanded training curve",
      group: "General",
      shared: true,
      handler: () => {
        if (!this.chartBox.classList.contains("tr-expanded")) return false;
        this.setExpanded(false);
      },
    });
    this.previewToggle.addEventListener("change", () =>
      this.preview.setEnabled(this.previewToggle.checked),
    );
    this.runSelect.addEventListener("change", () => void this.showRun(this.runSelect.value));
  }

  /** Load the run list; on first load show the active run, else the newest. */
  private async loadRuns(pick: boolean): Promise<void> {
    let runs: Run[];
    try {
      runs = await getJson<Run[]>("/api/training");
    } catch {
      return;
    }
    const shown = this.run?.id ?? "";
    this.runSelect.replaceChildren(
      h("option", { value: "" }, "—"),
      ...runs.map((r) =>
        h(
          "option",
          { value: r.id },
          runLabel(r, this.form.architectureLabel(String(r.settings?.architecture ?? ""))),
        ),
      ),
    );
    this.runSelect.value = shown;
    if (pick && !this.run && runs.length) {
      const chosen = runs.find((r) => isActive(r.state)) ?? runs[0];
      await this.showRun(String(chosen.id));
    }
  }

  /** Follow run `id`: draw its history and its live iterations. */
  private async showRun(id: string): Promise<void> {
    if (!id) return;
    this.run = { id, state: "queued", settings: {}, iteration: 0 };
    this.points = [];
    this.runSelect.value = id;
    this.watcher.watch(id);
    try {
      const run = await getJson<Run>(`/api/training/${encodeURIComponent(id)}`);
      if (this.run?.id !== id) return;
      this.points = mergePoints(run.history ?? [], this.points).points;
      this.applyRun(run);
      this.loadForm(id, run.settings);
      this.drawChart();
    } catch (error) {
      showError(error);
    }
  }

  /** The form says how the run on show was trained (once per run: later edits are kept). */
  private loadForm(id: string, settings: Run["settings"]): void {
    if (this.formRunId === id) return;
    this.formRunId = id;
    this.form.load(settings);
    this.advanced.load(settings);
  }

  /** Read the run again (history and outcome) once it has finished. */
  private async refresh(id: string): Promise<void> {
    try {
      const run = await getJson<Run>(`/api/training/${encodeURIComponent(id)}`);
      if (this.run?.id !== id) return;
      if (run.history) this.points = run.history;
      this.applyRun({ ...run, history: undefined });
      this.drawChart();
    } catch {
      // the next event or a reload shows it
    }
  }

  private applyRun(update: Partial<Run>): void {
    if (!this.run) return;
    const previous = this.run.state;
    const defined = Object.fromEntries(Object.entries(update).filter(([, v]) => v !== undefined));
    this.run = { ...this.run, ...defined, id: this.run.id };
    if (update.state === "running" && previous !== "running") this.preview?.poke();
    if (update.error) this.showJobError(update.error);
    else if (update.state && update.state !== "failed") this.hideError();
    this.updateStatus();
  }

  private onIteration(e: IterationEvent): void {
    const incoming = e.points?.length
      ? e.points
      : [{ iteration: e.iteration, loss: e.loss, error_rate: e.error_rate, lr: e.lr }];
    const merged = mergePoints(this.points, incoming);
    this.points = merged.points;
    if (merged.gap) this.watcher.rejoin();
    const state: RunState | undefined = this.run?.state === "queued" ? "running" : undefined;
    this.applyRun({
      iteration: e.iteration,
      it_per_s: e.it_per_s,
      eta_s: e.eta_s,
      state,
      final: e.final,
      phase: "training",
      progress: null,
    });
    this.drawChart();
  }

  /** The run's preparation goes on: "Preparing labels… 3/7". */
  private onProgress(e: ProgressEvent): void {
    if (this.run?.phase === "training") return; // a late event after the first iteration
    // A run that prepares runs, even when its "running" news came before we watched it.
    const state: RunState | undefined = this.run?.state === "queued" ? "running" : undefined;
    this.applyRun({
      state,
      phase: e.phase,
      progress: { step: e.step, done: e.done, total: e.total },
    });
  }

  private onState(e: StateEvent): void {
    this.stateEvents += 1;
    const previous = this.run?.state;
    this.applyRun({ ...runFromEvent(e), app_id: e.app_id, error: e.error ?? undefined });
    if (e.app_id && (e.state === "stopped" || e.state === "completed")) {
      this.app.bus.emit("apps:changed", { appId: e.app_id });
      if (previous !== e.state) toast(`Training ${e.state}: the app is ready to apply.`);
      // A stop between validations validates the last weights: fetch that point too.
      if (this.run) void this.refresh(this.run.id);
    }
    if (e.state === "running" && (previous === "stopped" || previous === "interrupted"))
      this.watcher.rejoin();
    void this.loadRuns(false);
  }

  private showJobError(error: JobError): void {
    this.errorBox.replaceChildren(h("strong", {}, error.message));
    if (error.hint) this.errorBox.append(h("div", { class: "tr-hint" }, error.hint));
    this.errorBox.hidden = false;
  }

  private hideError(): void {
    this.errorBox.hidden = true;
    this.errorBox.replaceChildren();
  }

  private drawChart(): void {
    if (this.chartQueued) return;
    this.chartQueued = true;
    requestAnimationFrame(() => {
      this.chartQueued = false;
      this.chart.setFinal(this.run?.final);
      this.chart.setPoints(this.points);
    });
  }

  private updateStatus(): void {
    const run = this.run;
    const state = run?.state ?? null;
    const enabled = buttonsFor(state, this.busy);
    for (const [name, button] of Object.entries(this.buttons))
      button.disabled = !enabled[name as keyof ButtonStates];
    this.buttons.continue.title =
      state === "completed"
        ? "Train as many more iterations as the Iterations box says"
        : "Go on from the last checkpoint";
    this.badge.textContent = stateLabel(state);
    this.badge.dataset.state = state ?? "idle";
    this.root.dataset.state = state ?? "idle";
    this.root.dataset.phase = run?.phase ?? "";
    this.root.dataset.iteration = String(run?.iteration ?? 0);
    this.chartBox.hidden = !run;
    this.form.setDisabled(isActive(state));
    this.archName.textContent = this.form.architectureLabel(
      (run?.settings?.architecture as string | undefined) ?? null,
    );
    if (run) {
      const of = run.iterations ? ` / ${run.iterations}` : "";
      const done = state === "completed" || state === "stopped" || state === "interrupted";
      this.current.replaceChildren(`iteration ${run.iteration ?? 0}${of}`);
      if (run.final)
        this.current.append(" · ", finalElement(run.final, done ? "final " : "", "tr-final"));
    } else this.current.replaceChildren();
    this.chartTitle.replaceChildren(
      h("strong", {}, this.archName.textContent ?? ""),
      run?.final ? finalElement(run.final, " · final ", "tr-chart-final") : "",
      run
        ? h("span", { class: "tr-chart-iter" }, ` · ${this.current.firstChild?.textContent ?? ""}`)
        : "",
    );
    this.speed.hidden = state !== "running";
    this.speed.textContent = run ? this.speedText(run) : "";
    this.showWarnings(run?.warnings ?? []);
    this.showOutcome(run);
  }

  /** "Preparing labels… 3/7" while preparing; then speed, ETA and how long preparing took. */
  private speedText(run: Run): string {
    if (run.phase === "preparing") return formatPreparing(run.progress);
    const prepared = run.prepare_s ? ` · prepared in ${formatSeconds(run.prepare_s)}` : "";
    return `${formatSpeed(run.it_per_s)} · ETA ${formatEta(run.eta_s)}${prepared}`;
  }

  private showWarnings(warnings: string[]): void {
    this.warningBox.hidden = warnings.length === 0;
    const shown = [...this.warningBox.children].map((li) => li.textContent).join("\n");
    if (shown !== warnings.join("\n"))
      this.warningBox.replaceChildren(...warnings.map((w) => h("li", {}, w)));
  }

  /** Which weights the app keeps and their validation: the per-class table and confusion. */
  private showOutcome(run: Run | null): void {
    const validation = run?.validation ?? null;
    const from = run?.weights_from_iteration;
    const finished = !!run && !isActive(run.state);
    const key = JSON.stringify([run?.id, finished, from, validation, run?.class_info?.length]);
    if (key === this.outcomeKey) return;
    this.outcomeKey = key;
    this.outcomeBox.hidden = !run || (from == null && !validation);
    if (this.outcomeBox.hidden || !run) {
      this.outcomeBox.replaceChildren();
      return;
    }
    const keep = run.settings?.keep_weights === "last" ? "last" : "best";
    const lines: (HTMLElement | string)[] = [];
    if (from != null) {
      lines.push(
        h(
          "div",
          { class: "tr-weights-from", "data-iteration": String(from) },
          `${finished ? "The app's weights are from" : "An app made now gets the weights of"} ` +
            weightsText(
              from,
              run.final?.iteration ?? run.iteration,
              !!validation && keep === "best",
            ),
        ),
      );
    }
    if (validation) {
      const details = h(
        "details",
        { class: "tr-validation", open: finished },
        h(
          "summary",
          {},
          `Validation (iteration ${validation.iteration}): error ${formatMetric("error_rate", validation.error_rate)}`,
        ),
        validationTables(validation, run.class_info ?? []),
      );
      lines.push(details);
    }
    this.outcomeBox.replaceChildren(...lines);
  }

  private async train(): Promise<void> {
    this.form.clearErrors();
    this.advanced.clearErrors();
    this.hideError();
    const basic = this.form.collect();
    const advanced = this.advanced.collect();
    const local = { ...advanced.errors, ...basic.errors };
    if (this.targets.slideIds().length === 0)
      local.slides = "Choose at least one slide to train on.";
    if (this.targets.classIds().length < 2)
      local.classes = "Choose at least two classes to tell apart.";
    if (Object.keys(local).length) {
      this.showFieldErrors(local);
      return;
    }
    await this.withBusy(async () => {
      try {
        const answer = await sendJson<{ run_id: string; state: RunState }>(
          "POST",
          "/api/training",
          {
            slides: this.targets.slideIds(),
            classes: this.targets.classIds(),
            settings: { ...advanced.settings, ...basic.settings },
          },
        );
        const id = String(answer.run_id);
        this.formRunId = id; // the form holds this run's settings already
        this.run = { id, state: answer.state ?? "queued", settings: basic.settings, iteration: 0 };
        this.points = [];
        this.drawChart();
        this.watcher.watch(id);
        // The run may have started before this browser joined its room: read its state.
        void this.refresh(id);
        await this.loadRuns(false);
      } catch (error) {
        const fields =
          error instanceof ApiError
            ? (error.body as { fields?: Record<string, string> })?.fields
            : undefined;
        if (fields && Object.keys(fields).length)
          this.showFieldErrors(fields, (error as ApiError).message);
        else this.showRequestError(error);
      }
    });
  }

  private async control(action: Action): Promise<void> {
    const run = this.run;
    if (!run) return;
    let body: { iterations: number; learning_rate: number } | undefined;
    if (action === "continue") {
      const choice = await this.askContinue(run);
      if (!choice) return;
      body = choice;
    }
    await this.withBusy(async () => {
      try {
        const events = this.stateEvents;
        const answer = await sendJson<Run>(
          "POST",
          `/api/training/${encodeURIComponent(run.id)}/${action}`,
          body,
        );
        // The answer says the state when the request was taken (a resumed run is still
        // "paused" until its thread goes on); a state event that came meanwhile is newer.
        const { state, ...rest } = answer;
        const update = this.stateEvents === events ? { ...rest, state } : rest;
        if (this.run?.id === run.id) this.applyRun({ ...update, history: undefined });
        if (action === "continue") this.watcher.rejoin();
      } catch (error) {
        this.showRequestError(error);
        // Refused (another browser continued or stopped it first): show its real state.
        if (error instanceof ApiError && error.status === 409) void this.refresh(run.id);
      }
    });
  }

  /** The Continue dialog for the run as the server has it now (checkpoint, settings). */
  private async askContinue(run: Run) {
    let fresh = run;
    try {
      fresh = await getJson<Run>(`/api/training/${encodeURIComponent(run.id)}`);
    } catch {
      // the run as last seen is good enough to ask
    }
    const name = runLabel(
      fresh,
      this.form.architectureLabel(String(fresh.settings?.architecture ?? "")),
    );
    return askContinue(fresh, name);
  }

  private async withBusy(work: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.updateStatus();
    try {
      await work();
    } finally {
      this.busy = false;
      this.updateStatus();
    }
  }

  private showRequestError(error: unknown): void {
    if (error instanceof ApiError) this.showJobError({ message: error.message, hint: error.hint });
    else this.showJobError({ message: error instanceof Error ? error.message : String(error) });
    showError(error);
  }

  private showFieldErrors(fields: Record<string, string>, message?: string): void {
    const normalised = Object.fromEntries(
      Object.entries(fields).map(([k, v]) => [normaliseFieldName(k), v]),
    );
    const rest = this.form.showErrors(normalised);
    const advanced = rest.filter((name) => this.advanced.holds(name));
    const unknown = this.advanced.showErrors(
      Object.fromEntries(advanced.map((n) => [n, normalised[n]])),
    );
    const general = rest.filter((n) => !advanced.includes(n)).concat(unknown);
    if (general.length || message) {
      this.showJobError({
        message: message ?? "Some settings need attention.",
        hint: general.map((n) => normalised[n]).join(" ") || undefined,
      });
    }
    if (advanced.length) {
      this.advanced.showGeneral("Please correct the marked settings.");
      this.advanced.open();
    }
  }
}
