import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import type { PolicyApplied } from "../api/insights";
import { applyStep, applyTitle, isStale, listText, missingSections, restartNeededText, type EditorResult } from "./policyEditor";

const summary = { valid: true as const, providers: ["p"], models: ["m"], routes: ["chat"], tiers: ["free"] };
const applied: PolicyApplied = { applied: true, providers: ["p"], models: ["m"], routes: ["chat"], tiers: ["free"], restart_needed: [], rebuilt: [], saved_to: "/data/policy.toml" };
const invalid = (text: string, status = 422): EditorResult => ({
  kind: "invalid",
  text,
  error: new ApiError({ status, code: status === 422 ? "invalid_policy" : "internal", message: "TOML parse error at line 3, column 1" }),
  during: "validate",
});

describe("the policy editor's Apply", () => {
  it("validates first when the text was never validated, or was edited since", () => {
    expect(applyStep("a = 1", null)).toBe("validate");
    expect(applyStep("a = 2", { kind: "valid", text: "a = 1", summary })).toBe("validate");
    expect(applyStep("a = 2", invalid("a = 1"))).toBe("validate");
    expect(applyStep("a = 2", { kind: "applied", text: "a = 1", applied })).toBe("validate");
  });

  it("asks for confirmation right away after a successful Validate of the same text", () => {
    expect(applyStep("a = 1", { kind: "valid", text: "a = 1", summary })).toBe("confirm");
    expect(applyTitle("a = 1", { kind: "valid", text: "a = 1", summary })).toMatch(/every new request/);
  });

  it("is blocked for an empty text, a text that does not validate, and one just applied", () => {
    expect(applyStep("  \n", null)).toBe("blocked");
    expect(applyStep("a = 1", invalid("a = 1"))).toBe("blocked");
    expect(applyTitle("a = 1", invalid("a = 1"))).toMatch(/Fix the error/);
    expect(applyStep("a = 1", { kind: "applied", text: "a = 1", applied })).toBe("blocked");
  });

  it("may retry when the failure was not about the policy (a 500, the network)", () => {
    expect(applyStep("a = 1", invalid("a = 1", 500))).toBe("validate");
    expect(applyStep("a = 1", invalid("a = 1", 0))).toBe("validate");
  });

  it("marks a result about an older text as stale", () => {
    expect(isStale("a", null)).toBe(false);
    expect(isStale("a", { kind: "valid", text: "a", summary })).toBe(false);
    expect(isStale("b", { kind: "valid", text: "a", summary })).toBe(true);
  });

  it("says plainly which providers need a restart", () => {
    expect(restartNeededText([])).toBeNull();
    expect(restartNeededText([""])).toBeNull();
    expect(restartNeededText(["local"])).toBe(
      "Restart Hearth for the changed settings of provider local to take effect (until then it runs with its previous settings). Everything else applies now.",
    );
    expect(restartNeededText(["a", "b", "c", "a"])).toMatch(/^Restart Hearth for the changed settings of providers a, b and c to take effect \(until then they run/);
  });
});

describe("the sections the active policy does not show", () => {
  it("lists [server], [resilience] and [cache] when the text lacks them", () => {
    expect(missingSections('[routes.chat]\nprimary = "a"\n')).toEqual(["server", "resilience", "cache"]);
  });

  it("counts a header (with spaces or a comment) and dotted keys", () => {
    const text = '[ resilience ] # timeouts\nmax_retries = 1\ncache.ttl_seconds = 60\n[server]\n';
    expect(missingSections(text)).toEqual([]);
  });

  it("does not count a table of another name that merely starts alike", () => {
    expect(missingSections("[cache_extra]\n[servers]\n[resilience.x]\n")).toEqual(["server", "cache"]);
  });

  it("joins names as a sentence does", () => {
    expect(listText([])).toBe("");
    expect(listText(["a"])).toBe("a");
    expect(listText(["a", "b"])).toBe("a and b");
    expect(listText(["a", "b", "c"])).toBe("a, b and c");
  });
});
