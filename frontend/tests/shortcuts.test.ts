import { describe, expect, it, vi } from "vitest";
import { ShortcutRegistry, keyLabel, type KeyEventLike } from "../src/core/shortcuts";

/** A key press on `target` (a fake element: the tests run without a DOM). */
function press(key: string, target: object | null = null, mods: Partial<KeyEventLike> = {}) {
  const event = {
    key,
    ctrlKey: false,
    metaKey: false,
    shiftKey: false,
    altKey: false,
    target: target as EventTarget | null,
    preventDefault: vi.fn(),
    ...mods,
  };
  return event;
}

const field = (type: string) => ({ tagName: "INPUT", type, isContentEditable: false });

describe("the shortcut registry", () => {
  it("refuses a key that another shortcut holds, naming both", () => {
    const registry = new ShortcutRegistry();
    registry.register({ keys: ["b"], description: "Brush", group: "Tools", handler: () => {} });
    expect(() =>
      registry.register({ keys: ["x", "B"], description: "Bold", group: "Other", handler: () => {} }),
    ).toThrow(/"b".*Bold.*Brush/);
    expect(registry.conflicts(["b", "x"])).toEqual(["b"]);
    // The refused shortcut left nothing behind.
    expect(registry.all().map((e) => e.description)).toEqual(["Brush"]);
  });

  it("lets keys both sides declare shared, asking the newest first until one acts", () => {
    const registry = new ShortcutRegistry();
    const calls: string[] = [];
    registry.register({
      keys: ["escape"],
      description: "Cancel shape",
      group: "Painting",
      shared: true,
      handler: () => {
        calls.push("shape");
      },
    });
    registry.register({
      keys: ["escape"],
      description: "Clear ruler",
      group: "View",
      shared: true,
      handler: () => {
        calls.push("ruler");
        return false;
      },
    });
    expect(() =>
      registry.register({ keys: ["escape"], description: "Solo", group: "X", handler: () => {} }),
    ).toThrow(/conflict/);
    const event = press("Escape");
    expect(registry.dispatch(event)).toBe(true);
    expect(calls).toEqual(["ruler", "shape"]);
    expect(event.preventDefault).toHaveBeenCalledOnce();
  });

  it("ignores keys typed into text fields, but not on sliders and checkboxes", () => {
    const registry = new ShortcutRegistry();
    const handler = vi.fn();
    registry.register({ keys: ["b"], description: "Brush", group: "Tools", handler });
    expect(registry.dispatch(press("b", field("text")))).toBe(false);
    expect(registry.dispatch(press("b", { tagName: "TEXTAREA" }))).toBe(false);
    expect(registry.dispatch(press("b", { tagName: "DIV", isContentEditable: true }))).toBe(false);
    expect(handler).not.toHaveBeenCalled();
    expect(registry.dispatch(press("b", field("range")))).toBe(true);
    expect(registry.dispatch(press("b", field("checkbox")))).toBe(true);
    expect(handler).toHaveBeenCalledTimes(2);
  });

  it("leaves keys a focused control uses, and everything while a dialog is open", () => {
    const registry = new ShortcutRegistry();
    const handler = vi.fn();
    registry.register({ keys: ["arrowleft", " "], description: "x", group: "View", handler });
    expect(registry.dispatch(press("ArrowLeft", field("range")))).toBe(false);
    expect(registry.dispatch(press(" ", { tagName: "BUTTON" }))).toBe(false);
    expect(registry.dispatch(press("ArrowLeft"), true)).toBe(false);
    expect(handler).not.toHaveBeenCalled();
    expect(registry.dispatch(press("ArrowLeft"))).toBe(true);
  });

  it("matches modifiers and lets a handler that returns false pass the key on", () => {
    const registry = new ShortcutRegistry();
    const undo = vi.fn();
    registry.register({ keys: ["mod+z"], description: "Undo", group: "Painting", handler: undo });
    registry.register({ keys: ["z"], description: "Z", group: "X", handler: () => false });
    expect(registry.dispatch(press("z", null, { ctrlKey: true }))).toBe(true);
    expect(registry.dispatch(press("z", null, { metaKey: true }))).toBe(true);
    expect(undo).toHaveBeenCalledTimes(2);
    const plain = press("z");
    expect(registry.dispatch(plain)).toBe(false);
    expect(plain.preventDefault).not.toHaveBeenCalled();
  });

  it("groups shortcuts for the sheet in a stable order and forgets removed ones", () => {
    const registry = new ShortcutRegistry();
    const noop = () => {};
    registry.register({ keys: ["x"], description: "Custom", group: "Zeta", handler: noop });
    registry.register({ keys: ["b"], description: "Brush", group: "Tools", handler: noop });
    const remove = registry.register({ keys: ["+"], description: "Zoom in", group: "View", handler: noop });
    registry.register({ keys: ["?"], description: "Help", group: "General", handler: noop });
    expect(registry.groups().map(([g]) => g)).toEqual(["General", "View", "Tools", "Zeta"]);
    remove();
    expect(registry.groups().map(([g]) => g)).toEqual(["General", "Tools", "Zeta"]);
    expect(registry.conflicts(["+"])).toEqual([]);
  });

  it("writes key names as people read them", () => {
    expect(keyLabel("mod+shift+z")).toMatch(/^(Ctrl|⌘)\+Shift\+Z$/);
    expect(keyLabel("+")).toBe("+");
    expect(keyLabel("shift+arrowleft")).toBe("Shift+←");
    expect(keyLabel("escape")).toBe("Esc");
    expect(keyLabel(" ")).toBe("Space");
  });
});
