import { describe, expect, it } from "vitest";
import { describeRuntime, listLocalModels } from "./admin";
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

  it("says the thread count and which kernels multiply quantized weights", () => {
    expect(describeRuntime({ provider: "local", threads: 2, quant_kernel: "avx512-vnni" })).toBe(
      "local: 2 CPU threads, quantized weights on the AVX-512 VNNI and AVX2 kernels",
    );
    expect(describeRuntime({ provider: "local", threads: 4, quant_kernel: "avx2" })).toBe("local: 4 CPU threads, quantized weights on the AVX2 kernels");
    expect(describeRuntime({ provider: "tiny", threads: 1, quant_kernel: "candle-generic" })).toMatch(/^tiny: 1 CPU thread, .*generic kernels \(no AVX2/);
  });
});
