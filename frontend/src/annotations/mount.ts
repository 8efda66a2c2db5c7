// The annotations feature mounted like the other panels: painting tools over the viewer,
// the toolbar, the class and import/export panels, and the session that keeps the open
// slide's annotations in sync with the server. It talks to the rest of the app through the
// app context (bus, socket) and answers the context's `classes()` and `rois()`.

import type { AppContext, RoiInfo } from "../core/app";
import { registerShortcut } from "../core/shortcuts";
import { showError, toast } from "../core/toast";
import type { SlideViewer } from "../viewer/slideViewer";
import * as annotationsApi from "./api";
import { ClassPanel } from "./classPanel";
import { ClassStore } from "./classStore";
import { bboxOf, outerRing } from "./geometry";
import { mountIoPanel } from "./ioPanel";
import { AnnotationOverlay } from "./overlay";
import { AnnotationSession } from "./session";
import { mountToolbar, type ToolbarHandle } from "./toolbar";
import { PAINT_TOOLS, TOOLS, type ToolHost } from "./tools/catalog";
import { ToolController } from "./tools/controller";
import { registerSelectKeys, SelectTool } from "./tools/select";
import type { RoiProperties } from "./types";

/** Where the annotation parts go in the page. */
export interface AnnotationElements {
  /** The viewer stage the overlay, ink layer and brush cursor are stacked on. */
  stage: HTMLElement;
  toolbar: HTMLElement;
  saveStatus: HTMLElement;
  classPanel: HTMLElement;
  ioPanel: HTMLElement;
}

/** The mounted annotations, as the app shell and its test hooks use them. */
export interface Annotations {
  readonly classes: ClassStore;
  readonly session: AnnotationSession;
  readonly overlay: AnnotationOverlay;
  readonly tools: ToolController;
  /** The Select tool: one label shape or ROI selected, edited, deleted, recoloured. */
  readonly select: SelectTool;
  /** The regions of interest drawn on the open slide. */
  rois(): RoiInfo[];
  /** Load the label classes. */
  loadClasses(): Promise<void>;
}

/** Mount the annotations into `elements`, over `viewer`, wired to the app through `app`. */
export function mountAnnotations(
  elements: AnnotationElements,
  app: AppContext,
  viewer: SlideViewer,
): Annotations {
  const classes = new ClassStore();
  const session = new AnnotationSession(app.socket, classes);
  const overlay = new AnnotationOverlay(elements.stage, viewer, session.model, classes);
  session.onPending((pending) => overlay.setPending(pending));

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
  const tools = new ToolController(elements.stage, toolHost);
  const toolbar = mountToolbar(
    elements.toolbar,
    elements.saveStatus,
    tools,
    session,
    overlay,
    viewer,
  );
  new ClassPanel(elements.classPanel, classes, session.model);
  const select = new SelectTool(elements.stage, viewer, session, classes, tools);
  mountIoPanel(elements.ioPanel, session, () => viewer.slide());

  app.bus.on("slide:opened", (slide) => {
    tools.cancel();
    session.open(slide.id).catch(showError);
  });
  classes.subscribe(() => app.bus.emit("classes:changed", classes.all()));
  session.model.subscribe(() => {
    if (session.slideId) app.bus.emit("annotations:changed", { slideId: session.slideId });
  });
  document.addEventListener("keyup", (event) => {
    if (event.key === " ") tools.setSpaceHeld(false);
  });
  window.addEventListener("blur", () => tools.setSpaceHeld(false));
  registerPaintingKeys({ classes, session, tools, toolbar });
  registerSelectKeys(select);

  return {
    classes,
    session,
    overlay,
    tools,
    select,
    rois: () => roiInfos(session),
    async loadClasses() {
      classes.set(await annotationsApi.listClasses());
    },
  };
}

function roiInfos(session: AnnotationSession): RoiInfo[] {
  return session.model.rois().map((feature) => {
    const [x0, y0, x1, y1] = bboxOf(outerRing(feature));
    return { id: (feature.properties as RoiProperties).roi_id, bbox: [x0, y0, x1 - x0, y1 - y0] };
  });
}

interface KeyTargets {
  classes: ClassStore;
  session: AnnotationSession;
  tools: ToolController;
  toolbar: ToolbarHandle;
}

/** Register the painting shortcuts: shape keys, class numbers, tools, undo/redo, brush size, A, space. */
function registerPaintingKeys({ classes, session, tools, toolbar }: KeyTargets): void {
  // Keys a shape in progress uses; shared, since other features answer them too.
  const gestureKeys: [string, string, string][] = [
    ["escape", "Escape", "Cancel the shape being drawn"],
    ["enter", "Enter", "Close the polygon being drawn"],
    ["backspace", "Backspace", "Remove the polygon's last vertex"],
  ];
  for (const [key, raw, description] of gestureKeys) {
    registerShortcut({
      keys: [key],
      description,
      group: "Painting",
      shared: true,
      handler: () => tools.handleKey(raw),
    });
  }
  registerShortcut({
    keys: ["1", "2", "3", "4", "5", "6", "7", "8", "9"],
    label: "1 – 9",
    description: "Choose the class with that number",
    group: "Classes",
    handler: (event) => classes.selectByNumber(Number(event.key)),
  });
  for (const tool of TOOLS) {
    registerShortcut({
      keys: [tool.key],
      description: tool.title.replace(/ \([^)]*\)$/, ""),
      group: "Tools",
      handler: () => tools.setTool(tool.name),
    });
  }
  const painting = "Painting";
  registerShortcut({
    keys: ["mod+z"],
    description: "Undo",
    group: painting,
    handler: () => session.step("undo"),
  });
  registerShortcut({
    keys: ["mod+shift+z", "mod+y"],
    description: "Redo",
    group: painting,
    handler: () => session.step("redo"),
  });
  registerShortcut({
    keys: ["["],
    description: "Smaller brush",
    group: painting,
    handler: () => tools.scaleBrush(1 / 1.25),
  });
  registerShortcut({
    keys: ["]"],
    description: "Larger brush",
    group: painting,
    handler: () => tools.scaleBrush(1.25),
  });
  registerShortcut({
    keys: ["a"],
    description: "Show or hide all annotations",
    group: "Display",
    handler: () => toolbar.toggleAnnotations(),
  });
  registerShortcut({
    keys: [" "],
    label: "Space (hold)",
    description: "Pan while held, whatever the tool",
    group: "View",
    handler: () => tools.setSpaceHeld(true),
  });
}
