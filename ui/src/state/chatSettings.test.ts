import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS, loadSettings, samplingOf, saveSettings, withSystem, type SettingsStore } from "./chatSettings";

function memory(): SettingsStore & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return { items, getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v) };
}

describe("samplingOf", () => {
  it("sends only what is set, as numbers and a list of stop sequences", () => {
    const s = { ...DEFAULT_SETTINGS, temperature: "0", topP: "0.9", maxTokens: "64", stop: "END\n\nSTOP", seed: "7", system: "Be brief." };
    expect(samplingOf(s)).toEqual({
      ok: { temperature: 0, topP: 0.9, maxTokens: 64, stop: ["END", "STOP"], seed: 7, system: "Be brief." },
    });
    expect(samplingOf({ ...DEFAULT_SETTINGS, temperature: "" })).toEqual({ ok: {} });
  });

  it("names each field that is out of range instead of sending it", () => {
    const s = { ...DEFAULT_SETTINGS, temperature: "3", topP: "x", maxTokens: "1.5", seed: "-1", stop: "a\nb\nc\nd\ne" };
    const r = samplingOf(s);
    expect("errors" in r && Object.keys(r.errors).sort()).toEqual(["maxTokens", "seed", "stop", "temperature", "topP"]);
  });
});

describe("per-thread settings", () => {
  it("are kept per thread, and a new chat starts from the last ones used", () => {
    const store = memory();
    expect(loadSettings(store, null)).toEqual(DEFAULT_SETTINGS);
    saveSettings(store, "t1", { ...DEFAULT_SETTINGS, seed: "1" });
    saveSettings(store, "t2", { ...DEFAULT_SETTINGS, seed: "2" });
    expect(loadSettings(store, "t1").seed).toBe("1");
    expect(loadSettings(store, null).seed).toBe("2");
    expect(loadSettings(store, "never-set").seed).toBe("2");
  });

  it("survive a damaged entry by falling back to the defaults", () => {
    const store = memory();
    store.items.set("hearth.chat.settings.t1", "{not json");
    store.items.set("hearth.chat.settings.last", JSON.stringify({ seed: 5, topP: "0.5" }));
    expect(loadSettings(store, "t1")).toEqual({ ...DEFAULT_SETTINGS, topP: "0.5" });
  });
});

describe("withSystem", () => {
  it("puts the system prompt first, or leaves the conversation as it is", () => {
    const m = [{ role: "user", content: "hi" }];
    expect(withSystem(m, "Be brief.")).toEqual([{ role: "system", content: "Be brief." }, ...m]);
    expect(withSystem(m, undefined)).toBe(m);
  });
});
