// A modal confirmation in the page's own style (instead of window.confirm).

import { h } from "./dom";

/** Ask a yes/no question; resolves true when the user confirms. */
export function confirmDialog(
  title: string,
  message: string,
  confirmLabel = "Delete",
): Promise<boolean> {
  return new Promise((resolve) => {
    const ok = h(
      "button",
      { type: "button", class: "danger", "data-testid": "confirm-ok" },
      confirmLabel,
    );
    const cancel = h("button", { type: "button", "data-testid": "confirm-cancel" }, "Cancel");
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-label": title },
      h("h3", { text: title }),
      h("p", { text: message }),
      h("div", { class: "dialog-actions" }, cancel, ok),
    );
    const finish = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    ok.addEventListener("click", () => finish(true));
    cancel.addEventListener("click", () => finish(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
