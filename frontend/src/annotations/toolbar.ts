// The drawing toolbar: tools, brush size, undo/redo, opacity, show/hide, saving state.

import { button, frameThrottle, h } from "../core/dom";
import { icon } from "../core/icons";
import { loadNumber, saveNumber } from "../core/prefs";
import type { SlideViewer } from "../viewer/slideViewer";
import type { AnnotationModel } from "./model";
import type { AnnotationOverlay } from "./overlay";
import type { AnnotationSession, SaveState } from "./session";
import { MAX_BRUSH_PX, MIN_BRUSH_PX, TOOLS } from "./tools/catalog";
import type { ToolController } from "./tools/controller";
import { MAX_TOLERANCE, MIN_TOLERANCE } from "./tools/wandState";

export interface ToolbarHandle {
  /** Show or hide all annotations (the toolbar button and the A key). */
  toggleAnnotations(): void;
}

/** Build the toolbar inside `root`, and the saving state inside `statusRoot`. */
export function mountToolbar(
  root: HTMLElement,
  statusRoot: HTMLElement,
  tools: ToolController,
  session: AnnotationSession,
  overlay: AnnotationOverlay,
  viewer: SlideViewer,
): ToolbarHandle {
  const toolButtons = TOOLS.map((tool) =>
    button(icon(tool.icon), tool.title, () => tools.setTool(tool.name), {
      class: "tool",
      "data-tool": tool.name,
      "data-testid": `tool-${tool.name}`,
      "aria-pressed": "false",
    }),
  );

  const size = h("input", {
    type: "range",
    min: MIN_BRUSH_PX,
    max: MAX_BRUSH_PX,
    value: tools.brushSize,
    "aria-label": "Brush radius in screen pixels ([ and ] keys)",
    title: "Brush radius ([ and ] keys)",
    "data-testid": "brush-size",
  });
  size.addEventListener("input", () => tools.setBrushSize(Number(size.value)));
  tools.setBrushSize(loadNumber("brush-radius", tools.brushSize));
  overlay.opacity = loadNumber("opacity", overlay.opacity);
  const sizeLabel = h("span", { class: "value", "data-testid": "brush-size-label" });

  const tolerance = h("input", {
    type: "range",
    min: MIN_TOLERANCE,
    max: MAX_TOLERANCE,
    value: tools.wand.tolerance,
    "aria-label": "Magic wand tolerance (colour distance; Alt+wheel over the slide)",
    title: "Magic wand tolerance (Alt+wheel over the slide)",
    "data-testid": "wand-tolerance",
  });
  tolerance.addEventListener("input", () => tools.wand.setTolerance(Number(tolerance.value)));
  tools.wand.setTolerance(loadNumber("wand-tolerance", tools.wand.tolerance));
  const toleranceLabel = h("span", { class: "value", "data-testid": "wand-tolerance-label" });
  const toleranceGroup = h(
    "label",
    { class: "tool-group slider", title: "Magic wand tolerance (Alt+wheel over the slide)" },
    h("span", { class: "muted" }, "Tolerance"),
    tolerance,
    toleranceLabel,
  );
  const updateTolerance = () => {
    toleranceGroup.hidden = tools.tool !== "wand";
    tolerance.value = String(tools.wand.tolerance);
    toleranceLabel.textContent = String(tools.wand.tolerance);
    saveNumber("wand-tolerance", tools.wand.tolerance);
  };

  const undo = button(icon("undo"), "Undo (Ctrl+Z)", () => session.step("undo"), {
    "data-testid": "undo",
  });
  const redo = button(icon("redo"), "Redo (Ctrl+Shift+Z)", () => session.step("redo"), {
    "data-testid": "redo",
  });

  const opacity = h("input", {
    type: "range",
    min: 0,
    max: 100,
    value: Math.round(overlay.opacity * 100),
    "aria-label": "Annotation opacity",
    title: "Annotation opacity",
    "data-testid": "opacity",
  });
  opacity.addEventListener("input", () => {
    overlay.opacity = Number(opacity.value) / 100;
    saveNumber("opacity", overlay.opacity);
  });
  const toggleAnnotations = () => {
    overlay.visible = !overlay.visible;
    updateVisibility();
  };
  const showAll = button(icon("eye"), "Show or hide all annotations (A)", toggleAnnotations, {
    "data-testid": "toggle-annotations",
    "aria-pressed": "true",
  });
  const updateVisibility = () => {
    showAll.setAttribute("aria-pressed", String(overlay.visible));
    showAll.classList.toggle("off", !overlay.visible);
    showAll.replaceChildren(icon(overlay.visible ? "eye" : "eye-off"));
  };

  const saveState = h(
    "span",
    {
      class: "save-state",
      "data-testid": "save-state",
      "data-state": "saved",
      role: "status",
    },
    "All changes saved",
  );

  root.append(
    h("div", { class: "tool-group", role: "group", "aria-label": "Tools" }, ...toolButtons),
    h(
      "label",
      { class: "tool-group slider", title: "Brush radius ([ and ] keys)" },
      h("span", { class: "muted", title: "Brush radius" }, icon("size", 16)),
      size,
      sizeLabel,
    ),
    toleranceGroup,
    h("div", { class: "tool-group", role: "group", "aria-label": "History" }, undo, redo),
    h(
      "label",
      { class: "tool-group slider", title: "Annotation opacity" },
      h("span", { class: "muted", title: "Opacity" }, icon("opacity", 16)),
      opacity,
    ),
    h("div", { class: "tool-group" }, showAll),
  );
  statusRoot.append(saveState);

  const updateSize = () => {
    size.value = String(tools.brushSize);
    const z = viewer.imageZoom();
    const mpp = viewer.slide()?.mpp;
    const radiusUm = mpp && z ? (tools.brushSize / z) * mpp : null;
    const text =
      radiusUm === null ? `${tools.brushSize} px` : `${tools.brushSize} px · ${formatUm(radiusUm)}`;
    if (sizeLabel.textContent !== text) sizeLabel.textContent = text;
  };
  const updateTools = () => {
    saveNumber("brush-radius", tools.brushSize);
    for (const node of toolButtons) {
      node.setAttribute("aria-pressed", String(node.dataset.tool === tools.tool));
    }
    updateSize();
    updateTolerance();
  };
  const updateHistory = (model: AnnotationModel) => {
    const none = !session.slideId;
    undo.disabled = none || !model.canUndo;
    redo.disabled = none || !model.canRedo;
  };
  tools.subscribe(updateTools);
  tools.wand.subscribe(updateTolerance);
  viewer.onViewChange(frameThrottle(updateSize));
  session.model.subscribe(() => updateHistory(session.model));
  session.onSaveState((state: SaveState) => {
    saveState.dataset.state = state;
    saveState.textContent = state === "saving" ? "Saving…" : "All changes saved";
  });
  updateTools();
  updateHistory(session.model);
  return { toggleAnnotations };
}

function formatUm(um: number): string {
  return um >= 1000 ? `${(um / 1000).toPrecision(3)} mm` : `${Number(um.toPrecision(3))} µm`;
}
