// The TensorBoard button: loads TensorBoard in the slidelab server and links to it.
// TensorBoard is served by slidelab itself under /tensorboard/ (same origin, same token),
// so the link works from any machine that can open slidelab.

import { getJson, sendJson } from "../core/api";
import { showError } from "../core/toast";
import { h } from "../core/dom";

interface TensorBoardStatus {
  /** Whether the server has loaded TensorBoard (it does on the first visit too). */
  running: boolean;
  /** Where TensorBoard answers, relative to this page's origin. */
  url: string | null;
}

/** A button that loads TensorBoard and opens it, and a link that opens it. */
export function tensorBoardControl(): HTMLElement {
  const button = h("button", { type: "button", class: "tr-tensorboard" }, "TensorBoard");
  const link = h(
    "a",
    { class: "tr-tensorboard-link", target: "_blank", rel: "noopener", hidden: true },
    "open ↗",
  );
  const show = (status: TensorBoardStatus) => {
    link.hidden = !status.url;
    if (status.url) link.href = status.url;
    button.textContent = status.running ? "TensorBoard (loaded)" : "TensorBoard";
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
