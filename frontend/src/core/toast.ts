// Plain-language messages for the user: errors (with the server's hint) and notices.

import { ApiError } from "./api";
import { h } from "./dom";

const DISPLAY_MS = 8000;

function container(): HTMLElement {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", role: "status" });
    document.body.appendChild(box);
  }
  return box;
}

/** Show a message; kind "error" stays longer and is styled as such. */
export function toast(message: string, kind: "info" | "error" = "info", hint?: string): void {
  const item = h(
    "div",
    { class: `toast toast-${kind}` },
    message,
    hint ? h("small", {}, hint) : null,
  );
  container().appendChild(item);
  setTimeout(() => item.remove(), kind === "error" ? DISPLAY_MS * 2 : DISPLAY_MS);
}

/** Show any thrown value as an error toast. */
export function showError(error: unknown): void {
  if (error instanceof ApiError) toast(error.message, "error", error.hint);
  else if (error instanceof Error) toast(error.message, "error");
  else toast(String(error), "error");
}
