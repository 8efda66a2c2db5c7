// Per-browser preferences (opacity, brush size) kept in localStorage.

const PREFIX = "slidelab:";

/** A stored number, or `fallback` when absent, unreadable or storage is blocked. */
export function loadNumber(key: string, fallback: number): number {
  try {
    const text = localStorage.getItem(PREFIX + key);
    const value = text === null ? NaN : Number(text);
    return Number.isFinite(value) ? value : fallback;
  } catch {
    return fallback;
  }
}

/** Store a number (silently skipped when storage is blocked). */
export function saveNumber(key: string, value: number): void {
  try {
    localStorage.setItem(PREFIX + key, String(value));
  } catch {
    // private mode or disabled storage: the preference lasts for this page only
  }
}

/** A stored text, or null when absent or storage is blocked. */
export function loadText(key: string): string | null {
  try {
    return localStorage.getItem(PREFIX + key);
  } catch {
    return null;
  }
}

/** Store a text; null removes it (silently skipped when storage is blocked). */
export function saveText(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, value);
  } catch {
    // the choice lasts for this page only
  }
}
