// The shapes of the annotation and class API (level-0 pixel coordinates throughout).

export type Position = [number, number];
export type Ring = Position[];
/** A polygon: outer ring first, then holes. */
export type PolygonCoords = Ring[];

export type Geometry =
  | { type: "Polygon"; coordinates: PolygonCoords }
  | { type: "MultiPolygon"; coordinates: PolygonCoords[] };

/** A whole class's labels (`class-<cid>`, the collection's default `form=classes`). */
export interface LabelProperties {
  kind: "label";
  class_id: number;
  name: string;
  color: string;
  area_px: number;
  area_um2: number | null;
}

/**
 * One polygon of a class inside one 256-px grid cell (`label-<cid>-<cx>-<cy>-<hash>`): what
 * `form=parts` collections and edit answers carry. An unchanged polygon keeps its id.
 */
export interface LabelPartProperties {
  kind: "label";
  class_id: number;
  cell: [number, number];
  area_px: number;
}

export interface RoiProperties {
  kind: "roi";
  roi_id: number;
}

export interface AnnotationFeature {
  type: "Feature";
  /** "label-<cid>-<cx>-<cy>-<hash>" (or "class-<cid>") for labels, "roi-<rid>" for ROIs. */
  id: string;
  geometry: Geometry;
  properties: LabelPartProperties | LabelProperties | RoiProperties;
}

/** A class's labelled area on the slide, as of an answer's version (0: none left). */
export interface ClassTotal {
  class_id: number;
  name: string;
  color: string;
  area_px: number;
  area_um2: number | null;
}

/** [minX, minY, maxX, maxY] in level-0 px. */
export type Bounds = [number, number, number, number];

/** The collection; the browser asks for `form=parts`, which also lists class totals. */
export interface AnnotationCollection {
  type: "FeatureCollection";
  form?: "classes" | "parts";
  features: AnnotationFeature[];
  classes?: ClassTotal[];
  version: number;
  can_undo: boolean;
  can_redo: boolean;
  /** After an import: why some features were left out. */
  skipped?: string[];
}

/**
 * The answer to an edit, undo, redo or ROI delete: the change only. `features` are the label
 * polygons and ROIs it added, `removed` the ids it removed, `classes` the new totals of the
 * classes it changed, `bounds` the box of the label polygons that changed.
 */
export interface EditResult {
  version: number;
  can_undo: boolean;
  can_redo: boolean;
  features: AnnotationFeature[];
  removed: string[];
  classes: ClassTotal[];
  bounds: Bounds | null;
}

/** The Socket.IO `annotations:changed` payload; features null means "reload everything". */
export interface AnnotationsChanged {
  slide_id: string;
  version: number;
  client_id: string | null;
  features: AnnotationFeature[] | null;
  removed: string[] | null;
  classes?: ClassTotal[];
  bounds?: Bounds | null;
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
