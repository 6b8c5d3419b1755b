import { describe, expect, it } from "vitest";
import { keysFor, shortcutOf, type KeyLike } from "./shortcuts";

const key = (k: string, mods: Partial<KeyLike> = {}): KeyLike => ({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods });

describe("shortcuts", () => {
  it("maps Ctrl/Cmd+Enter, Esc and Ctrl/Cmd+Shift+O", () => {
    expect(shortcutOf(key("Enter", { ctrlKey: true }))).toBe("send");
    expect(shortcutOf(key("Enter", { metaKey: true }))).toBe("send");
    expect(shortcutOf(key("Escape"))).toBe("stop");
    expect(shortcutOf(key("O", { ctrlKey: true, shiftKey: true }))).toBe("new-chat");
    expect(shortcutOf(key("o", { metaKey: true, shiftKey: true }))).toBe("new-chat");
  });
  it("leaves other keys alone", () => {
    expect(shortcutOf(key("Enter"))).toBeNull();
    expect(shortcutOf(key("Enter", { shiftKey: true }))).toBeNull();
    expect(shortcutOf(key("o", { ctrlKey: true }))).toBeNull();
    expect(shortcutOf(key("Enter", { ctrlKey: true, altKey: true }))).toBeNull();
  });
  it("names the keys per platform", () => {
    expect(keysFor("send", false)).toBe("Ctrl+Enter");
    expect(keysFor("send", true)).toBe("⌘ Enter");
  });
});
