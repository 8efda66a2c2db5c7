// Keyboard shortcuts for the whole page, ignored while typing in a field.

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

export type ShortcutHandler = (event: KeyboardEvent) => boolean | void;

/**
 * Call `handler` for key presses outside text fields; when it returns anything but false
 * the browser's default action is prevented.
 */
export function bindShortcuts(handler: ShortcutHandler): void {
  document.addEventListener("keydown", (event) => {
    if (isTyping(event.target) || document.querySelector("dialog[open]")) return;
    if (ownsKey(event.target, event.key)) return;
    if (handler(event) !== false) event.preventDefault();
  });
}
