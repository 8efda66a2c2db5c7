// Small helpers to build DOM elements without a framework (the one element builder).

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/**
 * Create `<tag>` with attributes and children. `class` sets the class name, `text` the text
 * content; `true` sets an empty attribute; `false`, null and undefined leave it out (children too).
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = String(value);
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/** A button with a visible text or icon, an accessible name and a tooltip. */
export function button(
  label: string | Node,
  title: string,
  onClick: (event: MouseEvent) => void,
  attrs: Attrs = {},
): HTMLButtonElement {
  const node = h("button", { type: "button", title, "aria-label": title, ...attrs }, label);
  node.addEventListener("click", onClick);
  return node;
}

/** A labelled form row: `<label>text <control></label>`. */
export function row(text: string, control: HTMLElement, extra?: HTMLElement): HTMLLabelElement {
  return h(
    "label",
    { class: "tr-row" },
    h("span", { class: "tr-row-label" }, text),
    control,
    extra,
  );
}

/** `<select>` with `[value, label]` options and one selected. */
export function select(
  options: [string, string][],
  selected?: string,
  attrs: Attrs = {},
): HTMLSelectElement {
  const node = h("select", attrs);
  for (const [value, label] of options) {
    const option = h("option", { value }, label);
    if (value === selected) option.selected = true;
    node.append(option);
  }
  return node;
}

/** Run `fn` at most once per animation frame. */
export function frameThrottle(fn: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      fn();
    });
  };
}

/** Save a Blob as a file download. */
export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
