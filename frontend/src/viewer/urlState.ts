// The URL hash holds the slide and the viewport, so a link reopens the same view.
// Format: #slide=<id>&x=<centre x>&y=<centre y>&z=<screen px per image px>
// x and y are level-0 image pixels; z is independent of the screen size.

export interface ViewState {
  slide: string;
  /** Centre in level-0 pixels and zoom; absent when the hash only names a slide. */
  x?: number;
  y?: number;
  z?: number;
}

function finite(text: string | null): number | undefined {
  if (text === null || text.trim() === "") return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Read a hash such as "#slide=abc&x=10&y=20&z=0.5"; null without a slide. */
export function parseHash(hash: string): ViewState | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const slide = params.get("slide");
  if (!slide) return null;
  const state: ViewState = { slide };
  const x = finite(params.get("x"));
  const y = finite(params.get("y"));
  const z = finite(params.get("z"));
  if (x !== undefined && y !== undefined && z !== undefined && z > 0) {
    state.x = x;
    state.y = y;
    state.z = z;
  }
  return state;
}

/** Round a zoom to 4 significant digits: enough to land within 0.05% of the view. */
function roundZoom(z: number): number {
  return Number(z.toPrecision(4));
}

/** Write the hash for a view (centre rounded to 0.1 px). */
export function formatHash(state: ViewState): string {
  const params = new URLSearchParams({ slide: state.slide });
  if (state.x !== undefined && state.y !== undefined && state.z !== undefined) {
    params.set("x", String(Math.round(state.x * 10) / 10));
    params.set("y", String(Math.round(state.y * 10) / 10));
    params.set("z", String(roundZoom(state.z)));
  }
  return `#${params.toString()}`;
}

/** Whether two views are the same within what the hash can express. */
export function sameView(a: ViewState | null, b: ViewState | null): boolean {
  if (!a || !b) return a === b;
  return formatHash(a) === formatHash(b);
}
