// A list to choose one item from whose names are shown whole (they wrap, never cut off),
// each with a second line saying what tells it apart (iterations, date, region, slide).

import { h } from "./dom";

export interface ListItem {
  value: string;
  /** The name, shown whole. */
  label: string;
  /** What tells it apart from similar items ("300 it. · 2 Dec, 14:03"). */
  meta?: string;
  disabled?: boolean;
}

/** A listbox of buttons; `value` is the chosen item's value ("" for none). */
export class ListBox {
  readonly element: HTMLElement;
  private items: ListItem[] = [];
  private chosen = "";
  private readonly handlers: ((value: string) => void)[] = [];

  constructor(className: string, label: string, emptyText = "none") {
    this.element = h("div", {
      class: `listbox ${className}`,
      role: "listbox",
      "aria-label": label,
    });
    this.element.dataset.empty = emptyText;
    this.element.addEventListener("keydown", (event) => this.onKey(event));
  }

  /** The chosen value ("" for none). */
  get value(): string {
    return this.chosen;
  }

  /** Choose an item by value (no change event); an unknown value chooses none. */
  set value(value: string) {
    this.chosen = this.items.some((i) => i.value === value) ? value : "";
    this.element.dataset.value = this.chosen;
    for (const button of this.buttons())
      button.setAttribute("aria-selected", String(button.dataset.value === this.chosen));
  }

  /** The items, in order. */
  get all(): readonly ListItem[] {
    return this.items;
  }

  /** Called with the value the user chose. */
  onChange(handler: (value: string) => void): void {
    this.handlers.push(handler);
  }

  /** Replace the items, keeping the chosen one when it is still there. */
  setItems(items: ListItem[]): void {
    const keep = this.chosen;
    this.items = items;
    this.element.replaceChildren(
      ...items.map((item) => {
        const button = h(
          "button",
          {
            type: "button",
            role: "option",
            class: "listbox-item",
            "data-value": item.value,
            disabled: !!item.disabled,
            title: item.meta ? `${item.label} — ${item.meta}` : item.label,
          },
          h("span", { class: "listbox-label" }, item.label),
          item.meta ? h("small", { class: "listbox-meta" }, item.meta) : null,
        );
        button.addEventListener("click", () => this.choose(item.value));
        return button;
      }),
    );
    if (!items.length)
      this.element.append(h("em", { class: "listbox-empty" }, this.element.dataset.empty ?? ""));
    this.value = keep;
  }

  private buttons(): HTMLButtonElement[] {
    return [...this.element.querySelectorAll<HTMLButtonElement>(".listbox-item")];
  }

  private choose(value: string): void {
    this.value = value;
    for (const handler of this.handlers) handler(this.chosen);
  }

  /** Up and down move the choice. */
  private onKey(event: KeyboardEvent): void {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const usable = this.items.filter((i) => !i.disabled);
    const at = usable.findIndex((i) => i.value === this.chosen);
    const next =
      usable[Math.min(usable.length - 1, Math.max(0, at + (event.key === "ArrowDown" ? 1 : -1)))];
    if (!next) return;
    event.preventDefault();
    event.stopPropagation();
    this.choose(next.value);
    this.buttons()
      .find((b) => b.dataset.value === next.value)
      ?.focus();
  }
}

/** "2 Dec, 14:03" for an ISO date or epoch seconds; "" when unknown. */
export function shortDate(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === "") return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString("en-GB", {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
}
