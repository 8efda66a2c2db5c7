// An id for this browser tab, sent with edits so the tab can ignore its own broadcast echo.

function randomId(): string {
  // crypto.randomUUID exists only in secure contexts (https or localhost).
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

/** The id of this tab, fixed for its lifetime. */
export const CLIENT_ID = randomId();
