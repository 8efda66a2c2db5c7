// The keyboard-shortcut sheet: `?` (or the "?" button) opens a dialog that lists every
// shortcut registered in the page's registry, grouped; Esc or Close shuts it.

import { button, h } from "./dom";
import { keyLabel, shortcuts, type ShortcutEntry, type ShortcutRegistry } from "./shortcuts";

/** The open/close handle of the sheet. */
export interface ShortcutSheet {
  open(): void;
  close(): void;
  readonly isOpen: boolean;
}

/**
 * Register `?` in `registry` and, when `buttonRoot` is given, add a "?" button to it; both
 * open the sheet.
 */
export function mountShortcutSheet(
  buttonRoot: HTMLElement | null,
  registry: ShortcutRegistry = shortcuts,
): ShortcutSheet {
  const body = h("div", { class: "shortcut-groups" });
  const closeButton = h(
    "button",
    { type: "button", "data-testid": "shortcut-sheet-close" },
    "Close",
  );
  const dialog = h(
    "dialog",
    {
      class: "shortcut-sheet",
      "aria-label": "Keyboard shortcuts",
      "data-testid": "shortcut-sheet",
    },
    h("h3", { text: "Keyboard shortcuts" }),
    body,
    h("div", { class: "dialog-actions" }, closeButton),
  );
  document.body.appendChild(dialog);
  closeButton.addEventListener("click", () => dialog.close());
  // A click on the backdrop (outside the dialog box) closes it too.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) {
      const r = dialog.getBoundingClientRect();
      const inside =
        event.clientX >= r.left &&
        event.clientX <= r.right &&
        event.clientY >= r.top &&
        event.clientY <= r.bottom;
      if (!inside) dialog.close();
    }
  });

  const render = () => body.replaceChildren(...registry.groups().map(([g, e]) => group(g, e)));
  const sheet: ShortcutSheet = {
    open() {
      render();
      if (!dialog.open) dialog.showModal();
      closeButton.focus();
    },
    close() {
      if (dialog.open) dialog.close();
    },
    get isOpen() {
      return dialog.open;
    },
  };
  registry.register({
    keys: ["?"],
    description: "Show this list of keyboard shortcuts",
    group: "General",
    handler: () => sheet.open(),
  });
  if (buttonRoot) {
    buttonRoot.append(
      button("?", "Keyboard shortcuts (?)", () => sheet.open(), {
        class: "shortcut-button",
        "data-testid": "shortcut-sheet-button",
      }),
    );
  }
  return sheet;
}

function group(title: string, entries: ShortcutEntry[]): HTMLElement {
  return h(
    "section",
    { class: "shortcut-group", "data-group": title },
    h("h4", { text: title }),
    h(
      "dl",
      {},
      ...entries.flatMap((entry) => [
        h("dt", {}, ...keysOf(entry)),
        h("dd", { text: entry.description }),
      ]),
    ),
  );
}

function keysOf(entry: ShortcutEntry): Node[] {
  if (entry.label) return [h("kbd", { text: entry.label })];
  const nodes: Node[] = [];
  entry.keys.forEach((key, i) => {
    if (i) nodes.push(document.createTextNode(" "));
    nodes.push(h("kbd", { text: keyLabel(key) }));
  });
  return nodes;
}
