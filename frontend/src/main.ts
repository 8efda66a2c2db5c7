// Entry point: builds the viewer and the slide list, mounts the annotations, training and
// inference panels through one app context, and binds the viewer's keys.

import "./styles.css";
import { mountLabelMode } from "./annotations/labelMode";
import { mountAnnotations } from "./annotations/mount";
import { getJson } from "./core/api";
import type { AppContext, AppEvents, SlideSummary } from "./core/app";
import type { Rect } from "./core/geometry";
import { Bus } from "./core/events";
import { bindShortcuts, shortcuts } from "./core/shortcuts";
import { mountShortcutSheet } from "./core/shortcutSheet";
import { connectSocket, type ConnectionState } from "./core/socket";
import { showError, toast } from "./core/toast";
import { FocusBox } from "./inference/focus";
import { mountInferencePanel } from "./inference/panel";
import { SlideList } from "./slides/slideList";
import { formatBoxSize } from "./core/format";
import { formatDimensions } from "./slides/format";
import { mountTrainingPanel } from "./training/panel";
import { mountDisplayControls } from "./viewer/display";
import { currentHashState, syncHash } from "./viewer/hashSync";
import { mountRuler } from "./viewer/ruler";
import { SlideViewer, type SlideDetail, type View } from "./viewer/slideViewer";
import { mountViewControls } from "./viewer/viewControls";
import { mountTissueOverlay } from "./viewer/tissueOverlay";
import { registerViewKeys } from "./viewer/viewKeys";

const byId = (id: string) => document.getElementById(id)!;

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  disconnected: "Disconnected",
  reconnecting: "Reconnecting…",
};

const connection = byId("connection");
const socket = connectSocket((state) => {
  connection.dataset.state = state;
  connection.textContent = CONNECTION_TEXT[state];
});

const bus = new Bus<AppEvents>();
const stage = byId("viewer-stage");
const viewer = new SlideViewer(byId("viewer"), "navigator");
mountViewControls(viewer, byId("zoom-controls"), byId("scale-bar"));
mountDisplayControls(viewer, byId("zoom-controls"));
mountRuler(stage, viewer, byId("zoom-controls"));

// Every feature mounts the same way: where it goes, and the app context.
const app: AppContext = {
  bus,
  socket,
  currentSlide: () => viewer.slide(),
  viewer: () => (viewer.slide() ? viewer.osd : null),
  classes: () => annotations.classes.all(),
  rois: () => annotations.rois(),
  visibleRegion,
};
const annotations = mountAnnotations(
  {
    stage,
    toolbar: byId("toolbar"),
    saveStatus: byId("save-status"),
    classPanel: byId("class-panel"),
    ioPanel: byId("io-panel"),
  },
  app,
  viewer,
);
mountLabelMode(byId("toolbar"), annotations.overlay, bus);
mountTissueOverlay(stage, viewer, bus);
mountTrainingPanel(byId("training-panel"), app);
mountInferencePanel(byId("inference-panel"), app, new FocusBox(stage, viewer));

const slideList = new SlideList(byId("slide-list"), (slide) => void openSlide(slide.id));

viewer.onViewChange(() => {
  const tiles = viewer.slide() ? (viewer.tilesLoaded() ? "loaded" : "loading") : "none";
  if (stage.dataset.tiles !== tiles) stage.dataset.tiles = tiles;
});

let opening = 0;

/** Open a slide (optionally at a view); the list, title, URL and annotations follow. */
async function openSlide(id: string, view?: Partial<View>): Promise<void> {
  const summary = slideList.find(id);
  const hasView = view?.x !== undefined && view.y !== undefined && view.z !== undefined;
  if (!summary) {
    const hint = "Rescan, or check the slide folders";
    toast("The link names a slide that is not in the library", "error", hint);
    return;
  }
  if (!summary.readable) {
    toast(`${summary.name} cannot be read`, "error", summary.error ?? undefined);
    return;
  }
  if (viewer.slide()?.id === id) {
    if (hasView) viewer.setView(view as View);
    return;
  }
  const token = ++opening;
  try {
    const detail = await getJson<SlideDetail>(`/api/slides/${encodeURIComponent(id)}`);
    if (token !== opening) return;
    await viewer.open({ ...summary, ...detail });
    if (token !== opening) return;
    if (hasView) viewer.setView(view as View, true);
    slideList.setActive(id);
    const physical =
      summary.mpp && summary.width && summary.height
        ? ` (${formatBoxSize(summary.width, summary.height, summary.mpp)})`
        : "";
    byId("slide-title").textContent = `${summary.name}  ·  ${formatDimensions(summary)}${physical}`;
    byId("viewer-empty").hidden = true;
    bus.emit("slide:opened", summary);
  } catch (error) {
    showError(error);
  }
}

syncHash(viewer, (state) => void openSlide(state.slide, state));

registerViewKeys(viewer);
mountShortcutSheet(byId("topbar"));
bindShortcuts();

function visibleRegion(): Rect | null {
  const slide = viewer.slide();
  if (!slide?.width || !slide.height) return null;
  const [x0, y0, x1, y1] = viewer.visibleBounds();
  const left = Math.max(0, Math.floor(x0));
  const top = Math.max(0, Math.floor(y0));
  const right = Math.min(slide.width, Math.ceil(x1));
  const bottom = Math.min(slide.height, Math.ceil(y1));
  return right > left && bottom > top ? [left, top, right - left, bottom - top] : null;
}

/** Read-only hooks for end-to-end tests and benchmarks. */
const hooks = {
  view: () => viewer.view(),
  slide: (): SlideSummary | null => viewer.slide(),
  tilesLoaded: () => viewer.tilesLoaded(),
  /** Tiles drawn and no zoom/pan animation running. */
  settled: () => viewer.tilesLoaded() && !viewer.moving(),
  toImage: (x: number, y: number) => viewer.toImage(x, y),
  toScreen: (x: number, y: number) => viewer.toScreen(x, y),
  annotationsVersion: () => annotations.session.model.version,
  saved: () => annotations.session.saved,
  drawnParts: () => annotations.overlay.lastDrawnParts,
  overlayRenders: () => annotations.overlay.renders,
  /** Slowest label render so far (ms); `reset` starts a new measurement. */
  slowestRender: (reset = false) => {
    const { overlay } = annotations;
    const slowest = overlay.slowestRenderMs;
    if (reset) overlay.slowestRenderMs = 0;
    return slowest;
  },
  panBy: (dx: number, dy: number) => viewer.panBy(dx, dy),
  setView: (view: View, immediately = true) => viewer.setView(view, immediately),
  /** Every registered keyboard shortcut (what the `?` sheet lists). */
  shortcuts: () => shortcuts.all(),
};
declare global {
  interface Window {
    slidelab: typeof hooks;
  }
}
window.slidelab = hooks;

async function start(): Promise<void> {
  try {
    await Promise.all([slideList.load(), annotations.loadClasses()]);
  } catch (error) {
    showError(error);
  }
  const state = currentHashState();
  if (state) await openSlide(state.slide, state);
}

void start();
