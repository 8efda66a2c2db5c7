import { describe, expect, it, vi } from "vitest";
import { ClassStore } from "../src/annotations/classStore";
import { EditQueue } from "../src/annotations/editQueue";
import { formatArea } from "../src/annotations/format";
import { AnnotationModel } from "../src/annotations/model";
import type { AnnotationFeature } from "../src/annotations/types";
import { ApiError } from "../src/core/api";
import { keyName } from "../src/core/shortcuts";
import { formatDimensions, formatResolution } from "../src/slides/format";

function label(cid: number, area: number): AnnotationFeature {
  return {
    type: "Feature",
    id: `class-${cid}`,
    geometry: {
      type: "Polygon",
      coordinates: [
        [
          [0, 0],
          [area, 0],
          [area, 1],
          [0, 1],
        ],
      ],
    },
    properties: {
      kind: "label",
      class_id: cid,
      name: `c${cid}`,
      color: "#ff0000",
      area_px: area,
      area_um2: area / 4,
    },
  };
}

describe("AnnotationModel", () => {
  it("loads, applies answers and reports areas", () => {
    const model = new AnnotationModel();
    const seen: string[][] = [];
    model.subscribe((ids) => seen.push(ids));
    model.load({
      type: "FeatureCollection",
      features: [label(1, 100)],
      version: 3,
      can_undo: true,
      can_redo: false,
    });
    expect(model.areas().get(1)).toEqual({ areaPx: 100, areaUm2: 25 });
    model.applyResult({
      version: 4,
      can_undo: true,
      can_redo: false,
      features: [label(2, 50)],
      removed: ["class-1"],
    });
    expect([...model.areas().keys()]).toEqual([2]);
    expect(model.version).toBe(4);
    expect(seen[seen.length - 1].sort()).toEqual(["class-1", "class-2"]);
  });

  it("ignores news older than what it holds", () => {
    const model = new AnnotationModel();
    model.apply(6, [label(1, 60)], []);
    // An answer for version 5 arrives after the broadcast of version 6.
    const changed = model.applyResult({
      version: 5,
      can_undo: true,
      can_redo: true,
      features: [label(1, 50), label(2, 5)],
      removed: [],
    });
    expect(changed).toEqual(["class-2"]);
    expect(model.areas().get(1)?.areaPx).toBe(60);
    expect(model.version).toBe(6);
    expect(model.canRedo).toBe(false);
    // A stale removal does not resurrect or delete newer features either.
    model.apply(5, [], ["class-1"]);
    expect(model.get("class-1")).toBeDefined();
    model.apply(7, [], ["class-1"]);
    expect(model.get("class-1")).toBeUndefined();
    model.apply(6, [label(1, 1)], []);
    expect(model.get("class-1")).toBeUndefined();
  });

  it("lists ROIs separately", () => {
    const model = new AnnotationModel();
    model.apply(1, [
      label(1, 10),
      {
        type: "Feature",
        id: "roi-4",
        geometry: { type: "Polygon", coordinates: [] },
        properties: { kind: "roi", roi_id: 4 },
      },
    ], []);
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
