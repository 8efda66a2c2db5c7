// A small element builder shared by the training and inference panels.

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/** Create `<tag>` with attributes (`class`, `data-*`, properties for booleans) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** A labelled form row: `<label>text <control></label>`. */
export function row(text: string, control: HTMLElement, extra?: HTMLElement): HTMLLabelElement {
  return h("label", { class: "tr-row" }, h("span", { class: "tr-row-label" }, text), control, extra);
}

/** `<select>` with `[value, label]` options and one selected. */
export function select(options: [string, string][], selected?: string, attrs: Attrs = {}): HTMLSelectElement {
  const el = h("select", attrs);
  for (const [value, label] of options) {
    const opt = h("option", { value }, label);
    if (value === selected) opt.selected = true;
    el.append(opt);
  }
  return el;
}

/** Enable or disable a button-like element. */
export function setEnabled(el: HTMLButtonElement | HTMLInputElement | HTMLSelectElement, on: boolean): void {
  el.disabled = !on;
}
