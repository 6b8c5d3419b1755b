import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import type { SseEvent } from "../api/sse";
import { defaultLocalName, downloadBlocked, followPull, hitKey, keepRunning, localModelFor, pullRequestFor, STOPPED } from "./hubPull";
import { failPull, startPull, type PullState } from "./models";

const ev = (event: string, data: unknown): SseEvent => ({ event, data: JSON.stringify(data) });

/** The events, then `end` thrown if given. */
async function* stream(events: SseEvent[], end?: unknown): AsyncGenerator<SseEvent> {
  for (const e of events) yield e;
  if (end !== undefined) throw end;
}

describe("downloading a search hit", () => {
  it("asks for a catalog entry by its id and any other hub file by repository and file", () => {
    expect(pullRequestFor({ repo: "o/r", file: "m.gguf", catalog_id: "smollm2-135m-instruct" })).toEqual({ id: "smollm2-135m-instruct" });
    expect(pullRequestFor({ repo: "o/r", file: "sub/m.Q8_0.gguf", catalog_id: null })).toEqual({ hub: { repo: "o/r", file: "sub/m.Q8_0.gguf" } });
  });

  it("names a hub file as the server does: its file name, lower-case, fit for a model name", () => {
    expect(defaultLocalName("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")).toBe("qwen2.5-0.5b-instruct-q4_k_m");
    expect(defaultLocalName("sub/Tiny+Model.GGUF")).toBe("tiny-model");
    expect(defaultLocalName(".hidden.gguf")).toBe("hidden");
    expect(defaultLocalName(`${"a".repeat(100)}.gguf`)).toHaveLength(64);
    expect(defaultLocalName(".gguf")).toBe("model");
  });

  it("says which local model a hit becomes", () => {
    expect(localModelFor({ file: "x.gguf", catalog_id: "qwen3-0.6b" })).toBe("local/qwen3-0.6b");
    expect(localModelFor({ file: "SmolLM2-360M.Q8_0.gguf", catalog_id: null })).toBe("local/smollm2-360m.q8_0");
  });

  it("keys hits by repository and file, and blocks quants Hearth has no kernel for", () => {
    expect(hitKey({ repo: "o/r", file: "a/b.gguf" })).toBe("o/r/a/b.gguf");
    expect(downloadBlocked({ runs: true, quant: "Q4_K_M" })).toBeNull();
    expect(downloadBlocked({ runs: false, quant: "IQ2_XS" })).toContain("IQ2_XS");
  });
});

describe("following a download", () => {
  it("hands over each state and ends done with the installed model", async () => {
    const seen: PullState[] = [];
    const s = await followPull(
      stream([ev("progress", { line: "50%" }), ev("done", { id: "m.q8_0", route: 'Hub("/c/m.gguf")', path: "/m/imported/m.q8_0.gguf" })]),
      (x) => seen.push(x),
    );
    expect(s).toMatchObject({ status: "done", done: { id: "m.q8_0", path: "/m/imported/m.q8_0.gguf" } });
    expect(seen.map((x) => x.status)).toEqual(["running", "running", "done", "done"]);
    expect(seen[1]?.percent).toBe(50);
  });

  it("ends as an error when the server refuses, the stream breaks off or the user stops it", async () => {
    const refused = new ApiError({ status: 422, code: "invalid_value", message: "local/m exists already" });
    expect((await followPull(stream([], refused), () => {})).error).toEqual({ code: "invalid_value", message: "local/m exists already" });
    expect((await followPull(stream([ev("progress", { line: "10%" })]), () => {})).error?.code).toBe("stream_ended");
    const abort = Object.assign(new Error("aborted"), { name: "AbortError" });
    expect((await followPull(stream([], abort), () => {})).error).toEqual({ code: "stopped", message: STOPPED });
    const failed = await followPull(stream([ev("error", { code: "cannot_run", message: "m.gguf is not a model Hearth can run" })]), () => {});
    expect(failed).toMatchObject({ status: "error", error: { code: "cannot_run" } });
  });
});

it("a new search keeps only the downloads still running", () => {
  const running = startPull();
  const failed = failPull(startPull(), "cannot_run", "not a model");
  expect(keepRunning({ a: running, b: failed })).toEqual({ a: running });
});
