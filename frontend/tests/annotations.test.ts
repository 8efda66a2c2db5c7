import { describe, expect, it, vi } from "vitest";
import { ClassStore } from "../src/annotations/classStore";
import { EditQueue } from "../src/annotations/editQueue";
import { formatArea } from "../src/annotations/format";
import { AnnotationModel } from "../src/annotations/model";
import type { AnnotationFeature, ClassTotal, EditResult } from "../src/annotations/types";
import { ApiError } from "../src/core/api";
import { keyName } from "../src/core/shortcuts";
import { formatDimensions, formatResolution } from "../src/slides/format";

/** One label polygon of class `cid` in cell (cell, 0), `area` px² (a 1-px-high strip). */
function part(cid: number, cell: number, area: number, hash = "0"): AnnotationFeature {
  const x = cell * 256;
  return {
    type: "Feature",
    id: `label-${cid}-${cell}-0-${hash.padStart(16, "0")}`,
    geometry: {
      type: "Polygon",
      coordinates: [
        [
          [x, 0],
          [x + area, 0],
          [x + area, 1],
          [x, 1],
          [x, 0],
        ],
      ],
    },
    properties: { kind: "label", class_id: cid, cell: [cell, 0], area_px: area },
  };
}

function total(cid: number, area: number): ClassTotal {
  return { class_id: cid, name: `c${cid}`, color: "#ff0000", area_px: area, area_um2: area / 4 };
}

function answer(
  version: number,
  features: AnnotationFeature[],
  removed: string[],
  classes: ClassTotal[],
  history = { can_undo: true, can_redo: false },
): EditResult {
  return { version, ...history, features, removed, classes, bounds: null };
}

describe("AnnotationModel", () => {
  it("loads the parts form, applies answers and reports areas from the totals", () => {
    const model = new AnnotationModel();
    const seen: string[][] = [];
    model.subscribe((ids) => seen.push(ids));
    const a = part(1, 0, 60, "a");
    const b = part(1, 1, 40, "b");
    model.load({
      type: "FeatureCollection",
      form: "parts",
      features: [a, b],
      classes: [total(1, 100)],
      version: 3,
      can_undo: true,
      can_redo: false,
    });
    expect(model.areas().get(1)).toEqual({ areaPx: 100, areaUm2: 25 });
    expect(model.classColor(1)).toBe("#ff0000");
    // Class 2 paints over cell 1: class 1's polygon there goes, the rest stays untouched.
    const c = part(2, 1, 50, "c");
    const changed = model.applyResult(answer(4, [c], [b.id], [total(1, 60), total(2, 50)]));
    expect(changed.sort()).toEqual([b.id, c.id].sort());
    expect(model.all().map((f) => f.id).sort()).toEqual([a.id, c.id].sort());
    expect(model.areas()).toEqual(
      new Map([
        [1, { areaPx: 60, areaUm2: 15 }],
        [2, { areaPx: 50, areaUm2: 12.5 }],
      ]),
    );
    expect(model.version).toBe(4);
    expect(seen[seen.length - 1].sort()).toEqual([b.id, c.id].sort());
    // Erasing everything of class 1: its total reads 0 and it has no area any more.
    model.applyResult(answer(5, [], [a.id], [total(1, 0)]));
    expect([...model.areas().keys()]).toEqual([2]);
  });

  it("ignores news older than what it holds, per polygon and per class total", () => {
    const model = new AnnotationModel();
    const p = part(1, 0, 10, "p");
    const q = part(1, 0, 20, "q");
    const r = part(1, 0, 30, "r");
    model.load({
      type: "FeatureCollection",
      features: [p],
      classes: [total(1, 10)],
      version: 4,
      can_undo: false,
      can_redo: false,
    });
    // v5 turned p into q, v6 turned q into r; the broadcast of v6 arrives before v5's answer.
    model.apply(6, [r], [q.id], undefined, [total(1, 30)]);
    const stale = model.applyResult(
      answer(5, [q], [p.id], [total(1, 20)], { can_undo: true, can_redo: true }),
    );
    expect(stale).toEqual([p.id]);
    expect(model.all().map((f) => f.id)).toEqual([r.id]);
    expect(model.areas().get(1)?.areaPx).toBe(30);
    expect(model.version).toBe(6);
    expect(model.canRedo).toBe(false);
    // A polygon removed and later brought back (undo) under the same id.
    model.apply(7, [], [r.id], undefined, [total(1, 0)]);
    model.apply(8, [r], [], undefined, [total(1, 30)]);
    model.apply(7, [], [r.id], undefined, [total(1, 0)]); // a late duplicate of v7
    expect(model.get(r.id)).toBeDefined();
    expect(model.areas().get(1)?.areaPx).toBe(30);
  });

  it("lists ROIs separately", () => {
    const model = new AnnotationModel();
    model.apply(
      1,
      [
        part(1, 0, 10),
        {
          type: "Feature",
          id: "roi-4",
          geometry: { type: "Polygon", coordinates: [] },
          properties: { kind: "roi", roi_id: 4 },
        },
      ],
      [],
      undefined,
      [total(1, 10)],
    );
    expect(model.rois().map((f) => f.id)).toEqual(["roi-4"]);
    expect(model.areas().size).toBe(1);
  });
});

describe("ClassStore", () => {
  const list = [
    { id: 7, name: "B", color: "#00ff00", position: 1 },
    { id: 3, name: "A", color: "#ff0000", position: 0 },
    { id: 9, name: "C", color: "#0000ff", position: 2 },
  ];

  it("sorts by position and picks the first class", () => {
    const store = new ClassStore();
    store.set(list);
    expect(store.all().map((c) => c.id)).toEqual([3, 7, 9]);
    expect(store.activeClass()?.id).toBe(3);
  });

  it("selects by number key and keeps the selection across updates", () => {
    const store = new ClassStore();
    store.set(list);
    expect(store.selectByNumber(3)).toBe(true);
    expect(store.activeClass()?.id).toBe(9);
    expect(store.selectByNumber(4)).toBe(false);
    store.set(list.filter((c) => c.id !== 7));
    expect(store.activeClass()?.id).toBe(9);
    store.set(list.filter((c) => c.id !== 9));
    expect(store.activeClass()?.id).toBe(3);
  });

  it("computes reorders and hides classes", () => {
    const store = new ClassStore();
    store.set(list);
    expect(store.movedOrder(7, -1)).toEqual([7, 3, 9]);
    expect(store.movedOrder(9, 1)).toBeNull();
    store.setHidden(7, true);
    expect(store.isHidden(7)).toBe(true);
    store.set(list.filter((c) => c.id !== 7));
    expect(store.isHidden(7)).toBe(false);
  });
});

describe("EditQueue", () => {
  it("runs tasks one at a time in order and reports busy", async () => {
    const busy: boolean[] = [];
    const queue = new EditQueue((b) => busy.push(b), [1]);
    const order: string[] = [];
    const slow = (name: string, ms: number) => () =>
      new Promise<string>((resolve) =>
        setTimeout(() => {
          order.push(name);
          resolve(name);
        }, ms),
      );
    const results = await Promise.all([
      queue.push({ run: slow("a", 20), retry: false }),
      queue.push({ run: slow("b", 1), retry: false }),
    ]);
    expect(results).toEqual(["a", "b"]);
    expect(order).toEqual(["a", "b"]);
    await new Promise((r) => setTimeout(r, 0));
    expect(busy).toEqual([true, false]);
  });

  it("retries network failures but not server refusals", async () => {
    const queue = new EditQueue(() => undefined, [1, 1]);
    const flaky = vi
      .fn<() => Promise<string>>()
      .mockRejectedValueOnce(new TypeError("Failed to fetch"))
      .mockResolvedValueOnce("ok");
    await expect(queue.push({ run: flaky, retry: true })).resolves.toBe("ok");
    expect(flaky).toHaveBeenCalledTimes(2);

    const refused = vi
      .fn<() => Promise<string>>()
      .mockRejectedValue(new ApiError("Unknown class", 400));
    await expect(queue.push({ run: refused, retry: true })).rejects.toThrow("Unknown class");
    expect(refused).toHaveBeenCalledTimes(1);

    const down = vi.fn<() => Promise<string>>().mockRejectedValue(new TypeError("down"));
    await expect(queue.push({ run: down, retry: true })).rejects.toThrow("down");
    expect(down).toHaveBeenCalledTimes(3);
    // A failed task does not block the next one.
    await expect(queue.push({ run: async () => "next", retry: false })).resolves.toBe("next");
  });
});

describe("formatting", () => {
  it("formats areas in µm², mm² or px²", () => {
    expect(formatArea(0, 0)).toBe("0 µm²");
    expect(formatArea(4200.4, 1)).toBe("4,200 µm²");
    expect(formatArea(42_100, 1)).toBe("0.0421 mm²");
    expect(formatArea(12_345_678, 1)).toBe("12.3 mm²");
    expect(formatArea(null, 1234)).toBe("1,234 px²");
  });

  it("describes slides", () => {
    expect(formatDimensions({ width: 2220, height: 2967 })).toBe("2,220 × 2,967 px");
    expect(formatDimensions({ width: null, height: null })).toBe("");
    expect(formatResolution({ mpp: 0.499, objective_power: 20 })).toBe("0.499 µm/px · 20×");
    expect(formatResolution({ mpp: 0.25, objective_power: null })).toBe("0.25 µm/px · 40×");
    expect(formatResolution({ mpp: null, objective_power: null })).toBe("resolution unknown");
  });

  it("names key presses", () => {
    const key = (k: string, mods: Partial<KeyboardEvent> = {}) =>
      keyName({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods });
    expect(key("z", { ctrlKey: true })).toBe("mod+z");
    expect(key("Z", { ctrlKey: true, shiftKey: true })).toBe("mod+shift+z");
    expect(key("z", { metaKey: true })).toBe("mod+z");
    expect(key("]")).toBe("]");
    expect(key("+", { shiftKey: true })).toBe("+");
    expect(key("ArrowLeft", { shiftKey: true })).toBe("shift+arrowleft");
    expect(key("3")).toBe("3");
  });
});
