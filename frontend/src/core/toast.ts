// Plain-language messages for the user: errors (with the server's hint) and notices.

import { ApiError } from "./api";

const DISPLAY_MS = 8000;

function container(): HTMLElement {
  let box = document.getElementById("toasts");
  if (!box) {
    box = document.createElement("div");
    box.id = "toasts";
    box.setAttribute("role", "status");
    document.body.appendChild(box);
  }
  return box;
}

/** Show a message; kind "error" stays longer and is styled as such. */
export function toast(message: string, kind: "info" | "error" = "info", hint?: string): void {
  const item = document.createElement("div");
  item.className = `toast toast-${kind}`;
  item.textContent = message;
  if (hint) {
    const small = document.createElement("small");
    small.textContent = hint;
    item.appendChild(small);
  }
  container().appendChild(item);
  setTimeout(() => item.remove(), kind === "error" ? DISPLAY_MS * 2 : DISPLAY_MS);
}

/** Show any thrown value as an error toast. */
export function showError(error: unknown): void {
  if (error instanceof ApiError) toast(error.message, "error", error.hint);
  else if (error instanceof Error) toast(error.message, "error");
  else toast(String(error), "error");
}
