import { describe, expect, it } from "vitest";
import type { ModelPool, PoolModel } from "../api/admin";
import { budgetText, budgetUse, formatSeconds, idleRuleText, runtimeDetail, runtimeOf, runtimeText, unlisted } from "./pool";

const MiB = 2 ** 20;
const entry = (model: string, state: PoolModel["state"], mib: number, in_use = 0, idle_s = 0): PoolModel => ({
  model,
  state,
  memory: { weights_bytes: mib * MiB, kv_cache_bytes: 0, kv_cache_type: "f16", scratch_bytes: 0, total_bytes: mib * MiB },
  in_use,
  idle_s,
});
const pool = (loaded: PoolModel[], memory_budget_mb: number | null = 1024, idle_unload_s: number | null = 300): ModelPool => ({
  memory_budget_mb,
  idle_unload_s,
  loaded,
});

describe("a model's runtime state", () => {
  it("is not loaded until the pool names it", () => {
    const r = runtimeOf([entry("local/other", "loaded", 90)], "local/mine");
    expect(r).toEqual({ state: "not_loaded" });
    expect(runtimeText(r)).toBe("not loaded");
    expect(runtimeDetail(r, 300)).toBeNull();
  });

  it("is loading with the room it has taken", () => {
    const r = runtimeOf([entry("local/mine", "loading", 183)], "local/mine");
    expect(r).toEqual({ state: "loading", bytes: 183 * MiB });
    expect(runtimeText(r)).toBe("loading 183 MiB");
    expect(runtimeDetail(r, 300)).toBeNull();
  });

  it("is loaded with the memory it holds, and says when the idle rule unloads it", () => {
    const r = runtimeOf([entry("local/mine", "loaded", 183, 0, 12.4)], "local/mine");
    expect(r).toEqual({ state: "loaded", bytes: 183 * MiB, inUse: 0, idleS: 12.4 });
    expect(runtimeText(r)).toBe("loaded, 183 MiB");
    expect(runtimeDetail(r, 300)).toBe("idle 12 s, unloads in 4 min 48 s");
    expect(runtimeDetail(r, null)).toBe("idle 12 s");
  });

  it("counts requests instead of idle time while it is used", () => {
    const r = runtimeOf([entry("local/mine", "loaded", 90, 2, 40)], "local/mine");
    expect(runtimeDetail(r, 300)).toBe("2 requests on it");
    expect(runtimeDetail(runtimeOf([entry("local/mine", "loaded", 90, 1)], "local/mine"), 300)).toBe("1 request on it");
  });

  it("is loaded when one of two ways of running it is, counting only the loaded one", () => {
    const r = runtimeOf([entry("local/mine", "loading", 300), entry("local/mine", "loaded", 90, 0, 5)], "local/mine");
    expect(r).toEqual({ state: "loaded", bytes: 90 * MiB, inUse: 0, idleS: 5 });
  });

  it("never promises an unload in the past", () => {
    expect(runtimeDetail(runtimeOf([entry("local/mine", "loaded", 90, 0, 301)], "local/mine"), 300)).toBe("idle 5 min 1 s, unloads in 0 s");
  });
});

describe("the memory budget", () => {
  it("adds up what the loaded models hold and what is loading, against the budget", () => {
    const u = budgetUse(pool([entry("local/a", "loaded", 183), entry("local/b", "loaded", 73), entry("local/c", "loading", 256)]));
    expect(u).toEqual({ heldBytes: 256 * MiB, loadingBytes: 256 * MiB, loadedCount: 2, budgetBytes: 1024 * MiB, share: 0.5 });
    expect(budgetText(u)).toBe("256 MiB of the 1.00 GiB budget held by 2 models, 256 MiB loading");
  });

  it("says nothing is loaded on a fresh start", () => {
    const u = budgetUse(pool([]));
    expect(u.share).toBe(0);
    expect(budgetText(u)).toBe("Nothing loaded of the 1.00 GiB budget");
  });

  it("has no share without a budget", () => {
    const u = budgetUse(pool([entry("local/a", "loaded", 183)], null));
    expect(u.share).toBeNull();
    expect(budgetText(u)).toBe("183 MiB held by 1 model");
  });

  it("states the idle rule, or that there is none", () => {
    expect(idleRuleText(300)).toMatch(/^A model idle for 5 min is unloaded/);
    expect(idleRuleText(null)).toMatch(/^A model stays loaded until another one needs its room/);
  });

  it("finds the models in memory that no row of the table names", () => {
    const loaded = [entry("local/a", "loaded", 1), entry("tiny/file", "loaded", 1)];
    expect(unlisted(loaded, ["local/a", "local/b"]).map((m) => m.model)).toEqual(["tiny/file"]);
  });
});

describe("durations", () => {
  it("reads in whole seconds, minutes and hours", () => {
    expect(formatSeconds(0.4)).toBe("0 s");
    expect(formatSeconds(45)).toBe("45 s");
    expect(formatSeconds(300)).toBe("5 min");
    expect(formatSeconds(288)).toBe("4 min 48 s");
    expect(formatSeconds(3900)).toBe("1 h 5 min");
    expect(formatSeconds(7170)).toBe("2 h");
    expect(formatSeconds(-3)).toBe("0 s");
  });
});
