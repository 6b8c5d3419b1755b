import { describe, expect, it } from "vitest";
import { describeRuntime, listLocalModels, requestModelName, searchModels, setRoutePrimary } from "./admin";
import type { HearthClient } from "./client";

function answering(body: unknown): HearthClient {
  return { json: async () => body } as unknown as HearthClient;
}

describe("local models", () => {
  it("reads how each local provider runs, and an older server's answer without it", async () => {
    const runtime = { provider: "local", threads: 2, quant_kernel: "avx512-vnni" };
    const listed = await listLocalModels(answering({ models: [], models_dir: "/m", local_providers: [runtime] }));
    expect(listed.local_providers).toEqual([runtime]);
    expect((await listLocalModels(answering({ models: [] }))).local_providers).toEqual([]);
  });

  it("reads the models in memory with the budget and idle time, and an older server's answer without them", async () => {
    const loaded = [{ model: "local/x", state: "loaded", memory: { total_bytes: 1 }, in_use: 0, idle_s: 3 }];
    const listed = await listLocalModels(answering({ models: [], memory_budget_mb: 4096, idle_unload_s: null, loaded }));
    expect(listed.pool).toEqual({ memory_budget_mb: 4096, idle_unload_s: null, loaded });
    expect((await listLocalModels(answering({ models: [] }))).pool).toEqual({ memory_budget_mb: null, idle_unload_s: null, loaded: [] });
  });

  it("says the thread count and which kernels multiply quantized weights", () => {
    expect(describeRuntime({ provider: "local", threads: 2, quant_kernel: "avx512-vnni" })).toBe(
      "local: 2 CPU threads, quantized weights on the AVX-512 VNNI and AVX2 kernels",
    );
    expect(describeRuntime({ provider: "local", threads: 4, quant_kernel: "avx2" })).toBe("local: 4 CPU threads, quantized weights on the AVX2 kernels");
    expect(describeRuntime({ provider: "tiny", threads: 1, quant_kernel: "candle-generic" })).toMatch(/^tiny: 1 CPU thread, .*generic kernels \(no AVX2/);
  });
});

describe("using an installed model", () => {
  it("names imported files by their local/ name and catalog models by their id", () => {
    expect(requestModelName({ id: "imported/mine", model: "local/mine" })).toBe("local/mine");
    expect(requestModelName({ id: "local/gemma-3-270m" })).toBe("local/gemma-3-270m");
  });

  it("asks for the chat route unless told another task", async () => {
    const calls: unknown[][] = [];
    const client = { json: async (...a: unknown[]) => (calls.push(a), { task: "chat", primary: "x", model: "local/x" }) } as unknown as HearthClient;
    await setRoutePrimary(client, "local/x");
    await setRoutePrimary(client, "local/x", "code");
    expect(calls).toEqual([
      ["POST", "/admin/models/use", { id: "local/x", task: "chat" }],
      ["POST", "/admin/models/use", { id: "local/x", task: "code" }],
    ]);
  });
});

describe("searching for models", () => {
  it("sends the text URL-encoded and reads an offline answer", async () => {
    const calls: unknown[][] = [];
    const client = {
      json: async (...a: unknown[]) => (calls.push(a), { online: false, reason: "no network", catalog: [{ repo: "o/r", catalog_id: "x" }] }),
    } as unknown as HearthClient;
    const found = await searchModels(client, "qwen 1.5b & co");
    expect(calls).toEqual([["GET", "/admin/models/search?q=qwen%201.5b%20%26%20co"]]);
    expect(found.online).toBe(false);
    expect(found.reason).toBe("no network");
    expect(found.catalog).toHaveLength(1);
    expect(found.files).toEqual([]);
  });
});
