// The label classes, which one is active, and which ones are hidden in the overlay.

import type { LabelClass } from "../core/app";

export type ClassListener = () => void;

export class ClassStore {
  private list: LabelClass[] = [];
  private active: number | null = null;
  private hidden = new Set<number>();
  private listeners = new Set<ClassListener>();

  /** Call `listener` after any change; returns an unsubscribe function. */
  subscribe(listener: ClassListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replace the list (from the server); keeps the active class when it still exists. */
  set(classes: LabelClass[]): void {
    this.list = [...classes].sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
    const ids = new Set(this.list.map((c) => c.id));
    if (this.active === null || !ids.has(this.active)) this.active = this.list[0]?.id ?? null;
    for (const id of [...this.hidden]) if (!ids.has(id)) this.hidden.delete(id);
    this.notify();
  }

  /** Classes in display order. */
  all(): LabelClass[] {
    return this.list;
  }

  /** A class by id. */
  get(id: number): LabelClass | undefined {
    return this.list.find((c) => c.id === id);
  }

  /** The class new labels go to. */
  activeClass(): LabelClass | null {
    return this.list.find((c) => c.id === this.active) ?? null;
  }

  /** Make a class the active one. */
  select(id: number): void {
    if (this.get(id) && this.active !== id) {
      this.active = id;
      this.notify();
    }
  }

  /** Pick the n-th class (1-based, keys 1–9); false when there is none. */
  selectByNumber(n: number): boolean {
    const item = this.list[n - 1];
    if (!item) return false;
    this.select(item.id);
    return true;
  }

  /** Whether a class is hidden in the overlay. */
  isHidden(id: number): boolean {
    return this.hidden.has(id);
  }

  /** Show or hide one class. */
  setHidden(id: number, hidden: boolean): void {
    if (hidden) this.hidden.add(id);
    else this.hidden.delete(id);
    this.notify();
  }

  /** The ids in order with one moved by `delta` places (for the reorder buttons). */
  movedOrder(id: number, delta: number): number[] | null {
    const ids = this.list.map((c) => c.id);
    const from = ids.indexOf(id);
    const to = from + delta;
    if (from < 0 || to < 0 || to >= ids.length) return null;
    ids.splice(from, 1);
    ids.splice(to, 0, id);
    return ids;
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
