// The list of apps: choose one, see its details, rename, delete, export, import.

import { getJson, sendForm, sendJson } from "../core/api";
import type { AppContext } from "../core/app";
import { showError, toast } from "../core/toast";
import { h } from "../core/dom";
import { finalElement, validationTables, weightsText } from "../core/figures";
import { formatDuration, formatMetric } from "../core/format";
import { ListBox, shortDate } from "../core/listbox";
import { formatMppMagnification } from "../core/magnification";
import type { AppInfo } from "./types";

const ARCHITECTURES: Record<string, string> = {
  unet: "U-Net",
  deeplabv3plus: "DeepLabv3+",
  fcn8s: "FCN-8s",
};

/** A readable architecture name ("U-Net · resnet34"). */
export function architectureText(app: Pick<AppInfo, "architecture" | "encoder">): string {
  const name = ARCHITECTURES[app.architecture] ?? app.architecture;
  return app.encoder ? `${name} · ${app.encoder}` : name;
}

/**
 * What tells an app apart from one with a similar name (a run and its continuation, two runs
 * of the same classes): its iterations, when it was made and on how many slides.
 */
export function appMeta(app: Pick<AppInfo, "training" | "created" | "weights_from_iteration">) {
  const t = app.training ?? {};
  const parts: string[] = [];
  if (t.iterations != null) {
    const from = app.weights_from_iteration;
    parts.push(
      from != null && from !== t.iterations
        ? `${t.iterations} it. (weights of it. ${from})`
        : `${t.iterations} it.`,
    );
  }
  const when = shortDate(app.created);
  if (when) parts.push(when);
  const slides = t.slides?.length ?? 0;
  if (slides > 1) parts.push(`${slides} slides`);
  return parts.join(" · ");
}

export class AppList {
  readonly element: HTMLElement;
  private apps: AppInfo[] = [];
  private readonly list = new ListBox("inf-apps", "Apps", "No apps yet");
  private readonly details = h("div", { class: "inf-app-details" });
  private readonly actions: HTMLElement;
  private readonly renameBox = h("span", { class: "inf-rename", hidden: true });
  private readonly exportLink = h("a", { class: "inf-app-export", download: "" }, "Export");

  constructor(
    private readonly app: AppContext,
    private readonly onSelect: (app: AppInfo | null) => void,
  ) {
    const rename = h("button", { type: "button", class: "inf-app-rename" }, "Rename");
    const remove = h("button", { type: "button", class: "inf-app-delete" }, "Delete");
    const file = h("input", {
      type: "file",
      accept: ".slidelab-app,.zip",
      class: "inf-app-import-file",
      hidden: true,
    });
    const importButton = h("button", { type: "button", class: "inf-app-import" }, "Import…");
    importButton.addEventListener("click", () => file.click());
    file.addEventListener("change", () => {
      if (file.files?.[0]) void this.importFile(file.files[0]).finally(() => (file.value = ""));
    });
    rename.addEventListener("click", () => this.startRename());
    remove.addEventListener("click", () => void this.remove());
    this.actions = h("div", { class: "inf-app-actions" }, rename, remove, this.exportLink);
    this.element = h(
      "div",
      { class: "inf-app-list" },
      h("div", { class: "inf-app-head" }, h("strong", {}, "Apps"), importButton, file),
      this.list.element,
      this.renameBox,
      this.actions,
      this.details,
    );
    this.list.onChange((id) => this.select(id));
    app.bus.on("apps:changed", ({ appId }) => void this.reload(appId ?? undefined));
    void this.reload();
  }

  /** The chosen app, or null. */
  selected(): AppInfo | null {
    return this.apps.find((a) => a.id === this.list.value) ?? null;
  }

  /** Reload from the server, keeping (or choosing) `preferId`. */
  async reload(preferId?: string): Promise<void> {
    try {
      this.apps = await getJson<AppInfo[]>("/api/apps");
    } catch (error) {
      showError(error);
      return;
    }
    const keep = preferId ?? this.list.value;
    this.list.setItems(this.apps.map((a) => ({ value: a.id, label: a.name, meta: appMeta(a) })));
    const chosen = this.apps.find((a) => a.id === keep) ?? this.apps[0];
    this.select(chosen?.id ?? "");
  }

  private select(id: string): void {
    this.list.value = id;
    const app = this.selected();
    this.renameBox.hidden = true;
    this.actions.hidden = !app;
    this.element.dataset.count = String(this.apps.length);
    if (app) this.exportLink.href = `/api/apps/${encodeURIComponent(app.id)}/export`;
    this.details.replaceChildren(
      ...(app ? this.describe(app) : [h("em", {}, "No apps yet: train one first.")]),
    );
    this.onSelect(app);
  }

  private describe(app: AppInfo): HTMLElement[] {
    const t = app.training ?? {};
    const item = (term: string, value: Node | string) => [h("dt", {}, term), h("dd", {}, value)];
    const classes = h(
      "span",
      {},
      ...app.classes.map((c) =>
        h(
          "span",
          { class: "inf-class" },
          h("i", { class: "inf-swatch", style: `background:${c.color}` }),
          c.name,
        ),
      ),
    );
    // The run's final value, said as the training panel says it (older apps: two numbers).
    const final = app.final
      ? finalElement(app.final, "", "inf-app-final")
      : `loss ${formatMetric("loss", t.final_loss)} · error ${formatMetric("error_rate", t.final_error_rate)}`;
    const v = app.validation;
    const validation = v && Array.isArray(v.classes) && Array.isArray(v.confusion) ? v : null;
    const keepsBest = t.settings?.keep_weights !== "last";
    const out: HTMLElement[] = [
      h(
        "dl",
        {},
        ...item("Name", h("span", { class: "inf-app-name" }, app.name)),
        ...item("Architecture", architectureText(app)),
        ...item("Classes", classes),
        ...item("Resolution", `${app.mpp} µm/px (≈ ${formatMppMagnification(app.mpp)})`),
        ...item("Final", final),
        ...(app.weights_from_iteration != null
          ? item(
              "Weights",
              h(
                "span",
                { class: "inf-app-weights", "data-iteration": String(app.weights_from_iteration) },
                `from ${weightsText(app.weights_from_iteration, t.iterations, !!validation && keepsBest)}`,
              ),
            )
          : []),
        ...(validation
          ? item(
              "Validation",
              `error ${formatMetric("error_rate", validation.error_rate)} (iteration ${validation.iteration})`,
            )
          : []),
        ...item("Iterations", t.iterations != null ? String(t.iterations) : "—"),
        ...item("Training time", formatDuration(t.duration_s)),
      ),
    ];
    if (validation) {
      out.push(
        h(
          "details",
          { class: "inf-app-validation" },
          h("summary", {}, "Validation per class"),
          validationTables(validation, app.classes),
        ),
      );
    }
    return out;
  }

  private startRename(): void {
    const app = this.selected();
    if (!app) return;
    const input = h("input", { type: "text", class: "inf-rename-input", "aria-label": "New name" });
    input.value = app.name;
    const save = h("button", { type: "button" }, "Save");
    const cancel = h("button", { type: "button" }, "Cancel");
    const done = () => (this.renameBox.hidden = true);
    const submit = async () => {
      const name = input.value.trim();
      if (!name) {
        toast("Give the app a name: it cannot be blank.", "error");
        input.focus();
        return;
      }
      try {
        await sendJson("PATCH", `/api/apps/${encodeURIComponent(app.id)}`, { name });
        done();
        this.app.bus.emit("apps:changed", { appId: app.id });
      } catch (error) {
        showError(error);
      }
    };
    save.addEventListener("click", () => void submit());
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") void submit();
      if (e.key === "Escape") done();
    });
    cancel.addEventListener("click", done);
    this.renameBox.replaceChildren(input, save, cancel);
    this.renameBox.hidden = false;
    input.select();
  }

  private async remove(): Promise<void> {
    const app = this.selected();
    if (!app || !window.confirm(`Delete the app "${app.name}"?`)) return;
    try {
      await sendJson("DELETE", `/api/apps/${encodeURIComponent(app.id)}`);
      this.app.bus.emit("apps:changed", {});
    } catch (error) {
      showError(error);
    }
  }

  private async importFile(file: File): Promise<void> {
    const form = new FormData();
    form.append("file", file);
    try {
      const imported = await sendForm<AppInfo>("/api/apps/import", form);
      toast(`Imported the app "${imported.name}".`);
      this.app.bus.emit("apps:changed", { appId: imported.id });
    } catch (error) {
      showError(error);
    }
  }
}
