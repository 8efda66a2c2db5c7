// The annotations of the open slide as the browser knows them, kept in step with the server.
// Labels are held as the server names them: one feature per polygon and grid cell
// (`label-<cid>-<cx>-<cy>-<hash>`), so an edit's answer only adds and removes the polygons it
// changed, and each class's area comes from the totals the answers carry.
// Answers and broadcasts can arrive out of order, so every feature (and class total)
// remembers the version that last wrote it and older news about it is ignored.

import type { AnnotationCollection, AnnotationFeature, ClassTotal, EditResult } from "./types";

export interface ClassArea {
  areaPx: number;
  areaUm2: number | null;
}

export type ModelListener = (changedIds: string[], all: boolean) => void;

interface HeldTotal {
  total: ClassTotal;
  version: number;
}

export class AnnotationModel {
  version = 0;
  canUndo = false;
  canRedo = false;
  private features = new Map<string, AnnotationFeature>();
  /** Version that last set (or removed) each id; removed ids stay as tombstones. */
  private versions = new Map<string, number>();
  private totals = new Map<number, HeldTotal>();
  private listeners = new Set<ModelListener>();

  /** Call `listener(changedIds, all)` after every change; returns an unsubscribe function. */
  subscribe(listener: ModelListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replace everything with a full collection (`form=parts`). */
  load(collection: AnnotationCollection): void {
    this.features = new Map(collection.features.map((f) => [String(f.id), f]));
    this.versions = new Map(collection.features.map((f) => [String(f.id), collection.version]));
    this.totals = new Map(
      (collection.classes ?? []).map((t) => [
        t.class_id,
        { total: t, version: collection.version },
      ]),
    );
    this.version = collection.version;
    this.canUndo = collection.can_undo;
    this.canRedo = collection.can_redo;
    this.notify([...this.features.keys()], true);
  }

  /** Forget everything (slide closed). */
  clear(): void {
    this.features.clear();
    this.versions.clear();
    this.totals.clear();
    this.version = 0;
    this.canUndo = false;
    this.canRedo = false;
    this.notify([], true);
  }

  /**
   * Apply a change written at `version`: features added, ids removed, class totals. Undo/redo
   * availability comes only from this tab's own answers (`history`), since they are per slide
   * and shared.
   */
  apply(
    version: number,
    features: AnnotationFeature[],
    removed: string[],
    history?: { can_undo: boolean; can_redo: boolean },
    classes: ClassTotal[] = [],
  ): string[] {
    const changed: string[] = [];
    // Removals first: an answer never removes what it adds, and a polygon removed by one
    // change may come back (same id) in a later one.
    for (const id of removed) {
      if ((this.versions.get(id) ?? -1) > version) continue;
      this.features.delete(id);
      this.versions.set(id, version);
      changed.push(id);
    }
    for (const feature of features) {
      const id = String(feature.id);
      if ((this.versions.get(id) ?? -1) > version) continue;
      this.features.set(id, feature);
      this.versions.set(id, version);
      changed.push(id);
    }
    for (const total of classes) {
      const held = this.totals.get(total.class_id);
      if (held && held.version > version) continue;
      this.totals.set(total.class_id, { total, version });
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

  /** Apply an edit/undo/redo/ROI-delete answer. */
  applyResult(result: EditResult): string[] {
    return this.apply(result.version, result.features, result.removed, result, result.classes);
  }

  /** One feature by id. */
  get(id: string): AnnotationFeature | undefined {
    return this.features.get(id);
  }

  /** All features: label polygons and ROIs. */
  all(): AnnotationFeature[] {
    return [...this.features.values()];
  }

  /** Labelled area per class id (classes with labels only), from the server's totals. */
  areas(): Map<number, ClassArea> {
    const result = new Map<number, ClassArea>();
    for (const [classId, { total }] of this.totals) {
      if (total.area_px > 0) {
        result.set(classId, { areaPx: total.area_px, areaUm2: total.area_um2 });
      }
    }
    return result;
  }

  /** A class's colour as the server last reported it (for a class the list lacks yet). */
  classColor(classId: number): string | undefined {
    return this.totals.get(classId)?.total.color;
  }

  /** The ROI features. */
  rois(): AnnotationFeature[] {
    return this.all().filter((f) => f.properties.kind === "roi");
  }

  private notify(ids: string[], all: boolean): void {
    for (const listener of this.listeners) listener(ids, all);
  }
}
