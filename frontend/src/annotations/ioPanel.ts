// Regions of interest, GeoJSON import/export and label mask export for the open slide.

import { ApiError } from "../core/api";
import { button, downloadBlob, h } from "../core/dom";
import { icon } from "../core/icons";
import { confirmDialog } from "../core/dialog";
import { formatBoxSize } from "../core/format";
import type { SlideSummary } from "../core/app";
import { showError, toast } from "../core/toast";
import * as api from "./api";
import { bboxOf, outerRing } from "./geometry";
import type { AnnotationSession } from "./session";
import type { RoiProperties } from "./types";

const DOWNSAMPLES = [1, 2, 4, 8, 16, 32, 64];

/** Fetch a file, turning an error answer into an ApiError with the server's message. */
async function fetchFile(url: string): Promise<Blob> {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    let message = `Export failed (${response.status})`;
    let hint: string | undefined;
    try {
      const body = (await response.json()) as { error?: string; hint?: string };
      message = body.error ?? message;
      hint = body.hint;
    } catch {
      // not JSON: keep the status message
    }
    throw new ApiError(message, response.status, hint);
  }
  return response.blob();
}

function stem(name: string): string {
  return name.replace(/\.[^.]+$/, "") || "slide";
}

/** Build the ROI list and the import/export controls inside `root`. */
export function mountIoPanel(
  root: HTMLElement,
  session: AnnotationSession,
  slide: () => SlideSummary | null,
): void {
  const slideName = () => slide()?.name ?? null;
  const rois = h("ul", { class: "roi-list", "aria-label": "Regions of interest" });
  const renderRois = () => {
    const features = session.model.rois();
    const mpp = slide()?.mpp ?? null;
    rois.replaceChildren(
      ...features.map((f, i) => {
        const roiId = (f.properties as RoiProperties).roi_id;
        const [x0, y0, x1, y1] = bboxOf(outerRing(f));
        return h(
          "li",
          { "data-testid": "roi-row", "data-roi-id": roiId },
          h("span", {}, `ROI ${i + 1}`),
          h("span", { class: "muted" }, formatBoxSize(x1 - x0, y1 - y0, mpp)),
          button(icon("trash", 15), `Delete ROI ${i + 1}`, () => session.deleteRoi(roiId), {
            class: "icon danger",
            "data-testid": "roi-delete",
          }),
        );
      }),
    );
    if (!features.length) {
      rois.append(h("li", { class: "muted" }, "None yet: draw one with the ROI tools"));
    }
  };
  session.model.subscribe(renderRois);

  const file = h("input", {
    type: "file",
    accept: ".geojson,.json,application/geo+json,application/json",
    hidden: true,
    "data-testid": "import-file",
  });
  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    file.value = "";
    if (!chosen || !session.slideId) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(await chosen.text());
    } catch {
      const hint = "Choose a GeoJSON file, e.g. a QuPath export";
      toast(`${chosen.name} is not valid JSON`, "error", hint);
      return;
    }
    const ok = await confirmDialog(
      "Replace the annotations of this slide?",
      `All labels and regions of interest are replaced by those in ${chosen.name}. ` +
        "Undo brings them back.",
      "Replace",
    );
    if (!ok) return;
    try {
      const skipped = await session.importGeoJson(parsed);
      if (skipped.length) {
        const why = skipped.slice(0, 3).join("; ");
        toast(`Imported ${chosen.name}; ${skipped.length} feature(s) left out`, "info", why);
      } else {
        toast(`Imported ${chosen.name}`);
      }
    } catch (error) {
      showError(error);
    }
  });

  const exportGeoJson = async () => {
    const slideId = session.slideId;
    if (!slideId) return;
    try {
      const blob = await fetchFile(api.geoJsonExportUrl(slideId));
      downloadBlob(blob, `${stem(slideName() ?? "")}.geojson`);
    } catch (error) {
      showError(error);
    }
  };

  const downsample = h(
    "select",
    { "aria-label": "Mask downsample", title: "Mask downsample", "data-testid": "mask-downsample" },
    ...DOWNSAMPLES.map((d) => h("option", { value: d, selected: d === 4 }, `1/${d}`)),
  );
  const format = h(
    "select",
    { "aria-label": "Mask format", title: "Mask format", "data-testid": "mask-format" },
    h("option", { value: "png" }, "PNG"),
    h("option", { value: "tiff" }, "TIFF"),
  );
  const exportMask = async () => {
    const slideId = session.slideId;
    if (!slideId) return;
    const d = Number(downsample.value);
    const fmt = format.value as "png" | "tiff";
    try {
      const blob = await fetchFile(api.maskUrl(slideId, d, fmt));
      downloadBlob(blob, `${stem(slideName() ?? "")}-mask-d${d}.${fmt}`);
    } catch (error) {
      showError(error);
    }
  };

  root.append(
    h("div", { class: "panel-head" }, h("h2", { text: "Regions of interest" })),
    rois,
    h("div", { class: "panel-head" }, h("h2", { text: "Import / export" })),
    h(
      "div",
      { class: "button-row" },
      button(
        h("span", {}, icon("upload", 15), "Import GeoJSON…"),
        "Replace this slide's annotations from a GeoJSON file (QuPath export accepted)",
        () => file.click(),
        { "data-testid": "import-geojson" },
      ),
      button(
        h("span", {}, icon("download", 15), "Export GeoJSON"),
        "Download the annotations as QuPath-compatible GeoJSON",
        exportGeoJson,
        { "data-testid": "export-geojson" },
      ),
      file,
    ),
    h(
      "div",
      { class: "button-row" },
      h("span", { class: "muted" }, "Label mask"),
      downsample,
      format,
      button(
        h("span", {}, icon("download", 15), "Export"),
        "Download the label mask (pixel value = class order, 0 = unlabelled)",
        exportMask,
        { "data-testid": "export-mask" },
      ),
    ),
  );
  renderRois();
}
