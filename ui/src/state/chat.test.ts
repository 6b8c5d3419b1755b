import { describe, expect, it } from "vitest";
import type { ThreadMessage } from "../api/client";
import { historyOf, threadTitle } from "./chat";

let nextId = 0;
function msg(role: "user" | "assistant", content: string, meta: ThreadMessage["meta"] = null): ThreadMessage {
  nextId += 1;
  return { id: nextId, role, content, meta, created_at_ms: 0 };
}

describe("history", () => {
  it("sends the thread without failed or empty answers, keeping stopped partial text", () => {
    const h = historyOf([
      msg("user", "q1"),
      msg("assistant", "a1"),
      msg("user", "q2"),
      msg("assistant", "", { stopped: true }),
      msg("user", "q3"),
      msg("assistant", "half", { stopped: true }),
      msg("assistant", "x", { error: { code: "provider_error", message: "m", status: 502 } }),
    ]);
    expect(h).toEqual([
      { role: "user", content: "q1" },
      { role: "assistant", content: "a1" },
      { role: "user", content: "q2" },
      { role: "user", content: "q3" },
      { role: "assistant", content: "half" },
    ]);
  });
});

describe("threadTitle", () => {
  it("takes the first line, cut at a word", () => {
    expect(threadTitle("  Hello there\nsecond line")).toBe("Hello there");
    expect(threadTitle("")).toBe("New chat");
    const long = "Phân tích trade-off giữa single provider và multi-provider cho hệ thống";
    const t = threadTitle(long);
    expect(Array.from(t).length).toBeLessThanOrEqual(48);
    expect(t.endsWith("…")).toBe(true);
    expect(long.startsWith(t.slice(0, -1))).toBe(true);
  });
});
