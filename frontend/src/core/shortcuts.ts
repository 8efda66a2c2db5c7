// Keyboard shortcuts for the whole page, ignored while typing in a field: one registry that
// every feature registers its keys in ({keys, description, group} and a handler), so the
// page dispatches them in one place and the shortcut sheet (`?`) lists them all.

/** A key press as "mod+shift+z", "[", "arrowleft", " " (mod = Ctrl or ⌘). */
export function keyName(
  event: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "shiftKey" | "altKey">,
): string {
  const parts: string[] = [];
  if (event.ctrlKey || event.metaKey) parts.push("mod");
  if (event.altKey) parts.push("alt");
  const key = event.key.toLowerCase();
  // Shift is part of the character for symbols ("+", "]"); name it only for letters and keys.
  if (event.shiftKey && (/^[a-z]$/.test(key) || key.length > 1)) parts.push("shift");
  parts.push(key);
  return parts.join("+");
}

/** Whether the event comes from a place where keys mean text. */
export function isTyping(target: EventTarget | null): boolean {
  const node = target as HTMLElement | null;
  if (!node || !node.tagName) return false;
  if (node.isContentEditable) return true;
  if (node.tagName === "TEXTAREA" || node.tagName === "SELECT") return true;
  if (node.tagName === "INPUT") {
    const type = (node as HTMLInputElement).type;
    return !["range", "checkbox", "radio", "button", "color"].includes(type);
  }
  return false;
}

const SLIDER_KEYS = new Set([
  "ArrowLeft",
  "ArrowRight",
  "ArrowUp",
  "ArrowDown",
  "Home",
  "End",
  "PageUp",
  "PageDown",
]);

/** Keys a focused control uses itself: sliders move, buttons press. */
function ownsKey(target: EventTarget | null, key: string): boolean {
  const node = target as HTMLElement | null;
  if (!node || !node.tagName) return false;
  if (node.tagName === "INPUT" && (node as HTMLInputElement).type === "range") {
    return SLIDER_KEYS.has(key);
  }
  if (node.tagName === "BUTTON" || node.tagName === "SUMMARY" || node.tagName === "A") {
    return key === " " || key === "Enter";
  }
  return false;
}

/** Act on a key; return false when it does not apply now (the key goes on to the next). */
export type ShortcutHandler = (event: KeyboardEvent) => boolean | void;

/** One shortcut as a feature registers it. */
export interface Shortcut {
  /** Key names as `keyName` writes them: "b", "mod+z", "shift+arrowleft", "escape", "?". */
  keys: string[];
  /** What it does, one line, for the shortcut sheet. */
  description: string;
  /** The sheet's heading it is listed under ("View", "Painting", "Results", …). */
  group: string;
  handler: ShortcutHandler;
  /** How the sheet shows the keys when not one by one (e.g. "1 – 9"). */
  label?: string;
  /**
   * Several features may answer this key (e.g. Escape: cancel a shape, clear the ruler).
   * Every registration of a shared key must say so; handlers are asked newest first until
   * one does not return false.
   */
  shared?: boolean;
}

/** A registered shortcut as the sheet lists it. */
export interface ShortcutEntry {
  keys: string[];
  label?: string;
  description: string;
  group: string;
}

/** The minimal key event the registry reads (a real KeyboardEvent in the page). */
export type KeyEventLike = Pick<
  KeyboardEvent,
  "key" | "ctrlKey" | "metaKey" | "shiftKey" | "altKey" | "target" | "preventDefault"
>;

/** Order in which the sheet lists groups it knows; others follow in registration order. */
const GROUP_ORDER = ["General", "View", "Tools", "Painting", "Classes", "Display", "Results"];

/** Every feature's keys: conflicts are refused when registered, presses dispatched in one place. */
export class ShortcutRegistry {
  private readonly entries: Shortcut[] = [];
  private readonly listeners = new Set<() => void>();

  /**
   * Register `shortcut`; returns a function that removes it. Throws when one of its keys
   * is taken by another shortcut and the two are not both `shared`.
   */
  register(shortcut: Shortcut): () => void {
    const keys = shortcut.keys.map((k) => k.toLowerCase());
    for (const key of keys) {
      const taken = this.entries.find((e) => e.keys.includes(key));
      if (taken && !(taken.shared && shortcut.shared)) {
        throw new Error(
          `Shortcut conflict: "${key}" for "${shortcut.description}" is taken by "${taken.description}"`,
        );
      }
    }
    const entry = { ...shortcut, keys };
    this.entries.push(entry);
    this.changed();
    return () => {
      const at = this.entries.indexOf(entry);
      if (at >= 0) this.entries.splice(at, 1);
      this.changed();
    };
  }

  /** The keys among `keys` that are already registered (to check before registering). */
  conflicts(keys: string[]): string[] {
    return keys
      .map((k) => k.toLowerCase())
      .filter((k) => this.entries.some((e) => e.keys.includes(k)));
  }

  /** The registered shortcuts grouped for the sheet, groups in a stable order. */
  groups(): [string, ShortcutEntry[]][] {
    const groups = new Map<string, ShortcutEntry[]>();
    const known = GROUP_ORDER.filter((g) => this.entries.some((e) => e.group === g));
    for (const g of known) groups.set(g, []);
    for (const { keys, label, description, group } of this.entries) {
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group)!.push({ keys, label, description, group });
    }
    return [...groups.entries()];
  }

  /** Every registered shortcut. */
  all(): ShortcutEntry[] {
    return this.groups().flatMap(([, entries]) => entries);
  }

  /** Be told when shortcuts are added or removed. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Act on a key press: nothing while typing in a field, while a modal dialog is open, or
   * for keys the focused control uses itself. True (and the default prevented) when a
   * shortcut took it.
   */
  dispatch(event: KeyEventLike, modalOpen = false): boolean {
    if (modalOpen || isTyping(event.target) || ownsKey(event.target, event.key)) return false;
    const key = keyName(event);
    const candidates = this.entries.filter((e) => e.keys.includes(key)).reverse();
    for (const entry of candidates) {
      if (entry.handler(event as KeyboardEvent) !== false) {
        event.preventDefault();
        return true;
      }
    }
    return false;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** The page's one registry: every feature registers its keys here. */
export const shortcuts = new ShortcutRegistry();

/** Register a shortcut in the page's registry; returns a function that removes it. */
export function registerShortcut(shortcut: Shortcut): () => void {
  return shortcuts.register(shortcut);
}

/** Listen to the page's key presses and dispatch them through `registry` (once per page). */
export function bindShortcuts(registry: ShortcutRegistry = shortcuts): void {
  document.addEventListener("keydown", (event) => {
    registry.dispatch(event, document.querySelector("dialog[open]") !== null);
  });
}

const KEY_TEXT: Record<string, string> = {
  mod: navigatorIsMac() ? "⌘" : "Ctrl",
  shift: "Shift",
  alt: navigatorIsMac() ? "⌥" : "Alt",
  " ": "Space",
  arrowleft: "←",
  arrowright: "→",
  arrowup: "↑",
  arrowdown: "↓",
  escape: "Esc",
  enter: "Enter",
  backspace: "Backspace",
  delete: "Delete",
};

function navigatorIsMac(): boolean {
  return typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform ?? "");
}

/** A key name as the sheet shows it: "mod+shift+z" → "Ctrl+Shift+Z". */
export function keyLabel(key: string): string {
  // "+" itself is a key: split on "+" only between parts ("mod++" is not written; "+" is).
  const parts = key === "+" ? ["+"] : key.split("+");
  return parts
    .map((part) => KEY_TEXT[part] ?? (part.length === 1 ? part.toUpperCase() : capital(part)))
    .join("+");
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
