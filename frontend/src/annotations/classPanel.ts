// The class panel: add, rename, recolour, reorder, hide, delete; the labelled area of each.

import { button, h } from "../core/dom";
import { icon } from "../core/icons";
import { confirmDialog } from "../core/dialog";
import { showError, toast } from "../core/toast";
import type { LabelClass } from "../core/app";
import * as api from "./api";
import type { ClassStore } from "./classStore";
import { formatArea } from "./format";
import type { AnnotationModel } from "./model";

export class ClassPanel {
  private readonly list: HTMLUListElement;
  private renaming: number | null = null;

  constructor(
    root: HTMLElement,
    private readonly classes: ClassStore,
    private readonly model: AnnotationModel,
  ) {
    this.list = h("ul", { class: "class-list", "aria-label": "Label classes" });
    const name = h("input", {
      type: "text",
      placeholder: "New class name",
      "aria-label": "New class name",
      maxlength: 100,
      "data-testid": "new-class-name",
    });
    const form = h(
      "form",
      { class: "add-class" },
      name,
      h("button", { type: "submit", title: "Add a class", "data-testid": "add-class" }, "Add"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = name.value.trim();
      if (!text) {
        toast("Give the class a name: it cannot be blank.", "error");
        name.focus();
        return;
      }
      api.createClass(text).then(
        (created) => {
          name.value = "";
          this.classes.set([...this.classes.all().filter((c) => c.id !== created.id), created]);
          this.classes.select(created.id);
        },
        (error) => showError(error),
      );
    });
    root.append(h("div", { class: "panel-head" }, h("h2", { text: "Classes" })), this.list, form);
    classes.subscribe(() => this.render());
    model.subscribe(() => this.renderAreas());
    this.render();
  }

  private render(): void {
    const all = this.classes.all();
    const active = this.classes.activeClass();
    const rows = all.map((c, i) => this.row(c, i, all.length, c.id === active?.id));
    this.list.replaceChildren(...rows);
    if (!all.length) {
      this.list.append(h("li", { class: "empty muted" }, "No classes yet: add one below."));
    }
    this.renderAreas();
  }

  private renderAreas(): void {
    const areas = this.model.areas();
    for (const node of this.list.querySelectorAll<HTMLElement>("[data-testid=class-area]")) {
      const area = areas.get(Number(node.dataset.classId));
      node.textContent = area ? formatArea(area.areaUm2, area.areaPx) : "–";
      node.dataset.areaPx = String(area?.areaPx ?? 0);
    }
  }

  private row(cls: LabelClass, index: number, count: number, active: boolean): HTMLElement {
    const hidden = this.classes.isHidden(cls.id);
    const colour = h("input", {
      type: "color",
      value: cls.color,
      title: `Colour of ${cls.name}`,
      "aria-label": `Colour of ${cls.name}`,
      "data-testid": "class-color",
    });
    colour.addEventListener("change", () => this.patch(cls.id, { color: colour.value }));
    const name =
      this.renaming === cls.id
        ? this.renameInput(cls)
        : h("span", { class: "class-name" }, cls.name);
    name.addEventListener("dblclick", () => this.startRename(cls.id));
    const row = h(
      "li",
      {
        class: `class-row${active ? " active" : ""}${hidden ? " hidden-class" : ""}`,
        "data-testid": "class-row",
        "data-class-id": cls.id,
        "aria-current": active ? "true" : undefined,
        title: index < 9 ? `Press ${index + 1} to paint ${cls.name}` : cls.name,
      },
      h("span", { class: "class-key" }, index < 9 ? String(index + 1) : ""),
      colour,
      name,
      h("span", { class: "class-area", "data-testid": "class-area", "data-class-id": cls.id }),
      h(
        "span",
        { class: "class-actions" },
        button(
          icon(hidden ? "eye-off" : "eye", 15),
          hidden ? `Show ${cls.name}` : `Hide ${cls.name}`,
          () => this.classes.setHidden(cls.id, !hidden),
          { class: "icon", "data-testid": "class-visibility", "aria-pressed": String(hidden) },
        ),
        button(icon("pencil", 15), `Rename ${cls.name}`, () => this.startRename(cls.id), {
          class: "icon",
          "data-testid": "class-rename",
        }),
        button(icon("up", 15), `Move ${cls.name} up`, () => this.move(cls.id, -1), {
          class: "icon",
          disabled: index === 0,
          "data-testid": "class-up",
        }),
        button(icon("down", 15), `Move ${cls.name} down`, () => this.move(cls.id, 1), {
          class: "icon",
          disabled: index === count - 1,
          "data-testid": "class-down",
        }),
        button(icon("trash", 15), `Delete ${cls.name}`, () => this.remove(cls), {
          class: "icon danger",
          "data-testid": "class-delete",
        }),
      ),
    );
    row.addEventListener("click", (event) => {
      const target = event.target as HTMLElement;
      if (target.closest("button, input")) return;
      this.classes.select(cls.id);
    });
    return row;
  }

  private renameInput(cls: LabelClass): HTMLInputElement {
    const input = h("input", {
      type: "text",
      value: cls.name,
      class: "class-name-input",
      "aria-label": `New name for ${cls.name}`,
      "data-testid": "class-name-input",
      maxlength: 100,
    });
    let done = false;
    const finish = (save: boolean) => {
      if (done) return;
      done = true;
      this.renaming = null;
      const text = input.value.trim();
      if (save && text && text !== cls.name) this.patch(cls.id, { name: text });
      else {
        if (save && !text) toast("A class name cannot be blank; the name was kept.", "error");
        this.render();
      }
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      if (event.key === "Escape") finish(false);
      event.stopPropagation();
    });
    input.addEventListener("blur", () => finish(true));
    requestAnimationFrame(() => {
      input.focus();
      input.select();
    });
    return input;
  }

  private startRename(id: number): void {
    this.renaming = id;
    this.render();
  }

  private patch(id: number, change: { name?: string; color?: string }): void {
    api.updateClass(id, change).then(
      (updated) =>
        this.classes.set(this.classes.all().map((c) => (c.id === id ? { ...c, ...updated } : c))),
      (error) => {
        showError(error);
        this.render();
      },
    );
  }

  private move(id: number, delta: number): void {
    const order = this.classes.movedOrder(id, delta);
    if (!order) return;
    api.reorderClasses(order).then(
      (list) => this.classes.set(list),
      (error) => showError(error),
    );
  }

  private async remove(cls: LabelClass): Promise<void> {
    const ok = await confirmDialog(
      `Delete class “${cls.name}”?`,
      `Its labels on every slide are deleted too.`,
      "Delete class",
    );
    if (!ok) return;
    try {
      await api.deleteClass(cls.id);
      this.classes.set(this.classes.all().filter((c) => c.id !== cls.id));
    } catch (error) {
      showError(error);
    }
  }
}
