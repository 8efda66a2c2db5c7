// Entry point: builds the viewer, the slide list, the painting tools and the panels,
// and wires them to the server (HTTP + Socket.IO).

import "./styles.css";
import * as annotationsApi from "./annotations/api";
import { ClassPanel } from "./annotations/classPanel";
import { ClassStore } from "./annotations/classStore";
import { bboxOf, outerRing } from "./annotations/geometry";
import { mountIoPanel } from "./annotations/ioPanel";
import { AnnotationOverlay } from "./annotations/overlay";
import { AnnotationSession } from "./annotations/session";
import { mountToolbar } from "./annotations/toolbar";
import { TOOLS, ToolController, type ToolHost } from "./annotations/tools";
import type { RoiProperties } from "./annotations/types";
import { getJson } from "./core/api";
import type { AppContext, AppEvents, RoiInfo, SlideSummary } from "./core/app";
import { Bus } from "./core/events";
import { bindShortcuts, keyName } from "./core/shortcuts";
import { connectSocket, type ConnectionState } from "./core/socket";
import { showError, toast } from "./core/toast";
import { mountInferencePanel } from "./inference/panel";
import { SlideList } from "./slides/slideList";
import { formatDimensions } from "./slides/format";
import { mountTrainingPanel } from "./training/panel";
import { currentHashState, syncHash } from "./viewer/hashSync";
import { SlideViewer, type SlideDetail, type View } from "./viewer/slideViewer";
import { mountViewControls } from "./viewer/viewControls";

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
const classes = new ClassStore();
const stage = byId("viewer-stage");
const viewer = new SlideViewer(byId("viewer"), "navigator");
mountViewControls(viewer, byId("zoom-controls"), byId("scale-bar"));

const session = new AnnotationSession(socket, classes);
const overlay = new AnnotationOverlay(stage, viewer, session.model, classes);
session.onPending((pending) => overlay.setPending(pending));

const PAINT_TOOLS = new Set(["brush", "polygon", "lasso"]);
const toolHost: ToolHost = {
  viewer,
  classes,
  blocked(tool) {
    if (!viewer.slide() || !session.slideId) return "Open a slide first";
    if (PAINT_TOOLS.has(tool) && !classes.activeClass()) {
      return "Add a class first (Classes panel on the right)";
    }
    return null;
  },
  commit: (edit, preview) => session.submit(edit, preview),
  notify: (message) => toast(message),
  opacity: () => overlay.opacity,
};
const tools = new ToolController(stage, toolHost);
const toolbar = mountToolbar(byId("toolbar"), byId("save-status"), tools, session, overlay, viewer);
new ClassPanel(byId("class-panel"), classes, session.model);
mountIoPanel(byId("io-panel"), session, () => viewer.slide()?.name ?? null);

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
    tools.cancel();
    await viewer.open({ ...summary, ...detail });
    if (token !== opening) return;
    if (hasView) viewer.setView(view as View, true);
    slideList.setActive(id);
    byId("slide-title").textContent = `${summary.name}  ·  ${formatDimensions(summary)}`;
    byId("viewer-empty").hidden = true;
    bus.emit("slide:opened", summary);
    await session.open(id);
  } catch (error) {
    showError(error);
  }
}

syncHash(viewer, (state) => void openSlide(state.slide, state));

bindShortcuts((event) => {
  if (tools.handleKey(event.key)) return;
  const key = keyName(event);
  const [w, h] = viewer.size();
  const pan: Record<string, [number, number]> = {
    arrowleft: [-w / 8, 0],
    arrowright: [w / 8, 0],
    arrowup: [0, -h / 8],
    arrowdown: [0, h / 8],
    "shift+arrowleft": [-w / 2, 0],
    "shift+arrowright": [w / 2, 0],
    "shift+arrowup": [0, -h / 2],
    "shift+arrowdown": [0, h / 2],
  };
  if (pan[key]) return viewer.panBy(...pan[key]);
  if (/^[1-9]$/.test(key)) return void classes.selectByNumber(Number(key));
  const tool = TOOLS.find((t) => t.key === key);
  if (tool) return tools.setTool(tool.name);
  switch (key) {
    case "mod+z":
      return session.step("undo");
    case "mod+shift+z":
    case "mod+y":
      return session.step("redo");
    case "[":
      return tools.scaleBrush(1 / 1.25);
    case "]":
      return tools.scaleBrush(1.25);
    case "+":
    case "=":
      return viewer.zoomBy(1.5);
    case "-":
    case "_":
      return viewer.zoomBy(1 / 1.5);
    case "0":
      return viewer.home();
    case "a":
      return toolbar.toggleAnnotations();
    case " ":
      return tools.setSpaceHeld(true);
    default:
      return false;
  }
});
document.addEventListener("keyup", (event) => {
  if (event.key === " ") tools.setSpaceHeld(false);
});
window.addEventListener("blur", () => tools.setSpaceHeld(false));

classes.subscribe(() => bus.emit("classes:changed", classes.all()));
session.model.subscribe(() => {
  if (session.slideId) bus.emit("annotations:changed", { slideId: session.slideId });
});

function roiInfos(): RoiInfo[] {
  return session.model.rois().map((feature) => {
    const [x0, y0, x1, y1] = bboxOf(outerRing(feature));
    return { id: (feature.properties as RoiProperties).roi_id, bbox: [x0, y0, x1 - x0, y1 - y0] };
  });
}

function visibleRegion(): [number, number, number, number] | null {
  const slide = viewer.slide();
  if (!slide?.width || !slide.height) return null;
  const [x0, y0, x1, y1] = viewer.visibleBounds();
  const left = Math.max(0, Math.floor(x0));
  const top = Math.max(0, Math.floor(y0));
  const right = Math.min(slide.width, Math.ceil(x1));
  const bottom = Math.min(slide.height, Math.ceil(y1));
  return right > left && bottom > top ? [left, top, right - left, bottom - top] : null;
}

const app: AppContext = {
  bus,
  socket,
  currentSlide: () => viewer.slide(),
  viewer: () => (viewer.slide() ? viewer.osd : null),
  classes: () => classes.all(),
  rois: roiInfos,
  visibleRegion,
};
mountTrainingPanel(byId("training-panel"), app);
mountInferencePanel(byId("inference-panel"), app);

/** Read-only hooks for end-to-end tests and benchmarks. */
const hooks = {
  view: () => viewer.view(),
  slide: (): SlideSummary | null => viewer.slide(),
  tilesLoaded: () => viewer.tilesLoaded(),
  /** Tiles drawn and no zoom/pan animation running. */
  settled: () => viewer.tilesLoaded() && !viewer.moving(),
  toImage: (x: number, y: number) => viewer.toImage(x, y),
  toScreen: (x: number, y: number) => viewer.toScreen(x, y),
  annotationsVersion: () => session.model.version,
  saved: () => session.saved,
  drawnParts: () => overlay.lastDrawnParts,
  overlayRenders: () => overlay.renders,
  /** Slowest label render so far (ms); `reset` starts a new measurement. */
  slowestRender: (reset = false) => {
    const slowest = overlay.slowestRenderMs;
    if (reset) overlay.slowestRenderMs = 0;
    return slowest;
  },
  panBy: (dx: number, dy: number) => viewer.panBy(dx, dy),
  setView: (view: View, immediately = true) => viewer.setView(view, immediately),
};
declare global {
  interface Window {
    slidelab: typeof hooks;
  }
}
window.slidelab = hooks;

async function start(): Promise<void> {
  try {
    const [, list] = await Promise.all([slideList.load(), annotationsApi.listClasses()]);
    classes.set(list);
  } catch (error) {
    showError(error);
  }
  const state = currentHashState();
  if (state) await openSlide(state.slide, state);
}

void start();
