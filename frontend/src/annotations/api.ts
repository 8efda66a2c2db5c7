// Calls to the class and annotation endpoints.

import { getJson, sendJson } from "../core/api";
import type { LabelClass } from "../core/app";
import type { AnnotationCollection, AnnotationSummary, EditRequest, EditResult } from "./types";

const slidePath = (slideId: string) => `/api/slides/${encodeURIComponent(slideId)}`;

/** All classes in display order. */
export const listClasses = () => getJson<LabelClass[]>("/api/classes");

/** Create a class; the server picks a palette colour when none is given. */
export const createClass = (name: string, color?: string) =>
  sendJson<LabelClass>("POST", "/api/classes", color ? { name, color } : { name });

/** Rename and/or recolour a class. */
export const updateClass = (id: number, change: { name?: string; color?: string }) =>
  sendJson<LabelClass>("PATCH", `/api/classes/${id}`, change);

/** Set the display order; answers the full ordered list. */
export const reorderClasses = (ids: number[]) =>
  sendJson<LabelClass[]>("POST", "/api/classes/order", { ids });

/** Delete a class and its labels on every slide. */
export const deleteClass = (id: number) =>
  sendJson<{ deleted: number }>("DELETE", `/api/classes/${id}`);

/** Every label polygon and ROI of a slide, with the class totals (the form answers apply to). */
export const loadAnnotations = (slideId: string) =>
  getJson<AnnotationCollection>(`${slidePath(slideId)}/annotations?form=parts`);

/** Send one stroke, polygon or ROI. */
export const sendEdit = (slideId: string, edit: EditRequest) =>
  sendJson<EditResult>("POST", `${slidePath(slideId)}/annotations/edits`, edit);

/** Undo or redo the slide's last step. */
export const stepHistory = (slideId: string, direction: "undo" | "redo", clientId: string) =>
  sendJson<EditResult>("POST", `${slidePath(slideId)}/annotations/${direction}`, {
    client_id: clientId,
  });

/** Delete one ROI. */
export const deleteRoi = (slideId: string, roiId: number, clientId: string) =>
  sendJson<EditResult>(
    "DELETE",
    `${slidePath(slideId)}/rois/${roiId}?client_id=${encodeURIComponent(clientId)}`,
  );

/** Replace every label and ROI of the slide from GeoJSON (QuPath exports accepted). */
export const importGeoJson = (slideId: string, collection: unknown, clientId: string) =>
  sendJson<AnnotationCollection>(
    "PUT",
    `${slidePath(slideId)}/annotations?form=parts&client_id=${encodeURIComponent(clientId)}`,
    collection,
  );

/** Area per class as stored. */
export const loadSummary = (slideId: string) =>
  getJson<AnnotationSummary>(`${slidePath(slideId)}/annotations/summary`);

/** URL of the QuPath-compatible GeoJSON export. */
export const geoJsonExportUrl = (slideId: string) =>
  `${slidePath(slideId)}/annotations/export.geojson`;

/** URL of the label mask at a downsample, as PNG or TIFF. */
export const maskUrl = (slideId: string, downsample: number, format: "png" | "tiff") =>
  `${slidePath(slideId)}/annotations/mask.${format}?downsample=${downsample}`;
