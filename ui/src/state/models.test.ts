import { describe, expect, it } from "vitest";
import { SseParser, type SseEvent } from "../api/sse";
import { applyPullEvent, endPull, failPull, formatBytes, routeLabel, startPull, type PullState } from "./models";

const ev = (event: string, data: unknown): SseEvent => ({ event, data: typeof data === "string" ? data : JSON.stringify(data) });
const run = (events: SseEvent[]): PullState => events.reduce(applyPullEvent, startPull());

describe("a pull's events", () => {
  it("tracks the stage and the percent, then done", () => {
    let s = run([
      ev("progress", { line: "downloading SmolLM2.gguf (98362432 bytes) from the hub" }),
      ev("progress", { line: "10%" }),
      ev("progress", { line: "20%" }),
    ]);
    expect(s).toMatchObject({ status: "running", stage: "downloading SmolLM2.gguf (98362432 bytes) from the hub", percent: 20 });
    expect(s.lines).toHaveLength(3);
    s = applyPullEvent(s, ev("progress", { line: "installed smollm2 from the hub at /m/x.gguf" }));
    expect(s.percent).toBe(100);
    s = applyPullEvent(s, ev("done", { id: "smollm2", route: 'Hub("/m/x.gguf")', path: "/m/x.gguf" }));
    expect(s).toMatchObject({ status: "done", percent: 100, done: { id: "smollm2", route: 'Hub("/m/x.gguf")', path: "/m/x.gguf" } });
  });

  it("starts the count again when a route fails and another one starts", () => {
    const s = run([
      ev("progress", { line: "downloading f (1 bytes) from the hub" }),
      ev("progress", { line: "30%" }),
      ev("progress", { line: "the hub route failed (timeout); trying the package registry" }),
    ]);
    expect(s.percent).toBeNull();
    expect(s.stage).toMatch(/trying the package registry/);
  });

  it("ends with the server's error code and message", () => {
    const s = run([ev("progress", { line: "fetching" }), ev("error", { code: "config", message: "pip download failed" })]);
    expect(s).toMatchObject({ status: "error", error: { code: "config", message: "pip download failed" } });
    // Nothing after the end counts.
    expect(applyPullEvent(s, ev("done", { id: "x" }))).toBe(s);
  });

  it("treats a stream that stops without done or error as a failure", () => {
    expect(endPull(run([ev("progress", { line: "50%" })]))).toMatchObject({ status: "error", error: { code: "stream_ended" } });
    const done = run([ev("done", { id: "x", route: "Wheel", path: null })]);
    expect(endPull(done)).toBe(done);
  });

  it("keeps lines that are not JSON as they came and ignores unknown events", () => {
    const s = run([ev("progress", "plain text line"), ev("ping", "{}")]);
    expect(s.lines).toEqual(["plain text line"]);
  });

  it("reads a real byte stream split anywhere (through the SSE parser)", () => {
    const wire =
      'event: progress\ndata: {"line":"downloading f (10 bytes) from the hub"}\n\nevent: progress\ndata: {"line":"40%"}\n\nevent: done\ndata: {"id":"m","route":"Wheel","path":"/p"}\n\n';
    const p = new SseParser();
    const events: SseEvent[] = [];
    for (let i = 0; i < wire.length; i += 7) events.push(...p.push(wire.slice(i, i + 7)));
    events.push(...p.end());
    expect(run(events)).toMatchObject({ status: "done", percent: 100, lines: ["downloading f (10 bytes) from the hub", "40%"] });
  });

  it("records a refusal before the stream", () => {
    expect(failPull(startPull(), "not_found", "no model `x`")).toMatchObject({ status: "error", error: { code: "not_found" } });
  });
});

describe("labels", () => {
  it("says where a model came from", () => {
    expect(routeLabel("AlreadyInstalled")).toBe("already installed");
    expect(routeLabel('Hub("/x")')).toBe("from the model hub");
    expect(routeLabel("Wheel")).toBe("from the package registry");
  });

  it("formats sizes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(98362432)).toBe("93.8 MiB");
    expect(formatBytes(4 * 1024 ** 3)).toBe("4.00 GiB");
    expect(formatBytes(null)).toBe("—");
  });
});
