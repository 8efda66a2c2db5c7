// The annotations of the open slide as the browser knows them, kept in step with the server.
// Edit answers and broadcasts can arrive out of order, so every feature remembers the
// version that last wrote it and older news about it is ignored.

import type {
  AnnotationCollection,
  AnnotationFeature,
  EditResult,
  LabelProperties,
} from "./types";

export interface ClassArea {
  areaPx: number;
  areaUm2: number | null;
}

export type ModelListener = (changedIds: string[], all: boolean) => void;

export class AnnotationModel {
  version = 0;
  canUndo = false;
  canRedo = false;
  private features = new Map<string, AnnotationFeature>();
  /** Version that last set (or removed) each id; removed ids stay as tombstones. */
  private versions = new Map<string, number>();
  private listeners = new Set<ModelListener>();

  /** Call `listener(changedIds, all)` after every change; returns an unsubscribe function. */
  subscribe(listener: ModelListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replace everything with a full GET answer. */
  load(collection: AnnotationCollection): void {
    this.features = new Map(collection.features.map((f) => [String(f.id), f]));
    this.versions = new Map(collection.features.map((f) => [String(f.id), collection.version]));
    this.version = collection.version;
    this.canUndo = collection.can_undo;
    this.canRedo = collection.can_redo;
    this.notify([...this.features.keys()], true);
  }

  /** Forget everything (slide closed). */
  clear(): void {
    this.features.clear();
    this.versions.clear();
    this.version = 0;
    this.canUndo = false;
    this.canRedo = false;
    this.notify([], true);
  }

  /**
   * Apply changed and removed features written at `version`. Undo/redo availability comes
   * only from this tab's own answers (`history`), since they are per slide and shared.
   */
  apply(
    version: number,
    features: AnnotationFeature[],
    removed: string[],
    history?: { can_undo: boolean; can_redo: boolean },
  ): string[] {
    const changed: string[] = [];
    for (const feature of features) {
      const id = String(feature.id);
      if ((this.versions.get(id) ?? -1) > version) continue;
      this.features.set(id, feature);
      this.versions.set(id, version);
      changed.push(id);
    }
    for (const id of removed) {
      if ((this.versions.get(id) ?? -1) > version) continue;
      this.features.delete(id);
      this.versions.set(id, version);
      changed.push(id);
    }
    const newest = version >= this.version;
    if (newest) this.version = version;
    if (history && newest) {
      this.canUndo = history.can_undo;
      this.canRedo = history.can_redo;
    }
    this.notify(changed, false);
    return changed;
  }

  /** Apply an edit/undo/redo answer. */
  applyResult(result: EditResult): string[] {
    return this.apply(result.version, result.features, result.removed, result);
  }

  /** One feature by id. */
  get(id: string): AnnotationFeature | undefined {
    return this.features.get(id);
  }

  /** All features, labels and ROIs. */
  all(): AnnotationFeature[] {
    return [...this.features.values()];
  }

  /** Labelled area per class id, from the server's numbers. */
  areas(): Map<number, ClassArea> {
    const result = new Map<number, ClassArea>();
    for (const feature of this.features.values()) {
      if (feature.properties.kind !== "label") continue;
      const props = feature.properties as LabelProperties;
      result.set(props.class_id, { areaPx: props.area_px, areaUm2: props.area_um2 });
    }
    return result;
  }

  /** The ROI features. */
  rois(): AnnotationFeature[] {
    return this.all().filter((f) => f.properties.kind === "roi");
  }

  private notify(ids: string[], all: boolean): void {
    for (const listener of this.listeners) listener(ids, all);
  }
}
