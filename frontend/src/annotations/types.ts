// The shapes of the annotation and class API (level-0 pixel coordinates throughout).

export type Position = [number, number];
export type Ring = Position[];
/** A polygon: outer ring first, then holes. */
export type PolygonCoords = Ring[];

export type Geometry =
  | { type: "Polygon"; coordinates: PolygonCoords }
  | { type: "MultiPolygon"; coordinates: PolygonCoords[] };

export interface LabelProperties {
  kind: "label";
  class_id: number;
  name: string;
  color: string;
  area_px: number;
  area_um2: number | null;
}

export interface RoiProperties {
  kind: "roi";
  roi_id: number;
}

export interface AnnotationFeature {
  type: "Feature";
  /** "class-<cid>" for labels, "roi-<rid>" for regions of interest. */
  id: string;
  geometry: Geometry;
  properties: LabelProperties | RoiProperties;
}

export interface AnnotationCollection {
  type: "FeatureCollection";
  features: AnnotationFeature[];
  version: number;
  can_undo: boolean;
  can_redo: boolean;
  /** After an import: why some features were left out. */
  skipped?: string[];
}

/** The answer to an edit, undo, redo or ROI delete. */
export interface EditResult {
  version: number;
  can_undo: boolean;
  can_redo: boolean;
  features: AnnotationFeature[];
  removed: string[];
}

/** The Socket.IO `annotations:changed` payload; features null means "reload everything". */
export interface AnnotationsChanged {
  slide_id: string;
  version: number;
  client_id: string | null;
  features: AnnotationFeature[] | null;
  removed: string[] | null;
}

export type EditTool = "brush" | "eraser" | "polygon" | "roi";

export interface EditRequest {
  tool: EditTool;
  class_id?: number;
  points: Position[];
  radius?: number;
  client_id?: string;
}

export interface AnnotationSummary {
  version: number;
  classes: { class_id: number; name: string; area_px: number; area_um2: number | null }[];
  rois: number;
}
