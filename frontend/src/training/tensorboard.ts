// The TensorBoard button: starts TensorBoard on the runs folder and links to it.

import { getJson, sendJson } from "../core/api";
import { showError } from "../core/toast";
import { h } from "./dom";

interface TensorBoardStatus {
  running: boolean;
  url: string | null;
}

/** A button that starts TensorBoard when needed, and a link that opens it. */
export function tensorBoardControl(): HTMLElement {
  const button = h("button", { type: "button", class: "tr-tensorboard" }, "TensorBoard");
  const link = h("a", { class: "tr-tensorboard-link", target: "_blank", rel: "noopener", hidden: true }, "open ↗");
  const show = (status: TensorBoardStatus) => {
    link.hidden = !status.running || !status.url;
    if (status.url) link.href = status.url;
    button.textContent = status.running ? "TensorBoard (running)" : "TensorBoard";
  };
  getJson<TensorBoardStatus>("/api/tensorboard").then(show, () => undefined);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const status = await sendJson<TensorBoardStatus>("POST", "/api/tensorboard");
      show(status);
      if (status.url) window.open(status.url, "_blank", "noopener");
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
  return h("span", { class: "tr-tensorboard-box" }, button, " ", link);
}
