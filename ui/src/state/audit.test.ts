import { describe, expect, it } from "vitest";
import type { AuditEvent } from "../api/admin";
import {
  appendPage,
  auditCsv,
  auditCsvName,
  auditQuery,
  defaultFilters,
  formatTimestamp,
  localInputToMs,
  promptLabel,
  shortHash,
} from "./audit";

function event(over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: 1,
    timestamp: "2026-11-27T16:01:16.076Z",
    event_type: "llm_request_completed",
    trace_id: "t1",
    tenant_id: "default",
    user_id_hash: "hmac-sha256:5355984abb2cfd7b",
    endpoint: "/v1/chat/completions",
    task: "chat",
    prompt_id: "support_triage",
    prompt_version: "v2",
    schema_version: null,
    provider: "mock-fast",
    model: "mock-fast/fast-extract-v1",
    input_tokens: 20,
    output_tokens: 24,
    estimated_cost_usd: 8.8e-6,
    latency_ms: 124.5,
    cache_hit: false,
    retry_count: 0,
    fallback_used: false,
    tool_names: [],
    policy_decision: "allow; model mock-fast/fast-extract-v1 named by the request",
    error_code: null,
    status: "ok",
    ...over,
  };
}

describe("auditQuery", () => {
  it("sends only the filters that are set, and the limit", () => {
    expect(auditQuery(defaultFilters())).toEqual({ query: "?limit=50" });
    const f = { ...defaultFilters("tenant_pro"), task: "chat", model: "mock-fast/fast-extract-v1", status: "error", limit: 10 };
    expect(auditQuery(f, 42)).toEqual({
      query: "?task=chat&model=mock-fast%2Ffast-extract-v1&status=error&tenant_id=tenant_pro&limit=10&cursor=42",
    });
  });

  it("sends times as unix milliseconds of the local time typed", () => {
    const f = { ...defaultFilters(), since: "2026-11-27T09:30", until: "2026-11-27T18:00:15" };
    const since = new Date(2026, 10, 27, 9, 30).getTime();
    const until = new Date(2026, 10, 27, 18, 0, 15).getTime();
    expect(auditQuery(f)).toEqual({ query: `?since=${since}&until=${until}&limit=50` });
  });

  it("refuses an unreadable time and a range that ends before it starts", () => {
    expect(auditQuery({ ...defaultFilters(), since: "yesterday" })).toEqual({ error: "“From” is not a date and time" });
    expect(auditQuery({ ...defaultFilters(), since: "2026-11-27T10:00", until: "2026-11-27T09:00" })).toEqual({
      error: "“From” must be before “To”",
    });
  });

  it("reads datetime-local values", () => {
    expect(localInputToMs("2026-01-02T03:04")).toBe(new Date(2026, 0, 2, 3, 4).getTime());
    expect(localInputToMs("2026-01-02")).toBeNull();
  });
});

describe("pages", () => {
  it("appends the next page without repeating an event", () => {
    const a = [event({ id: 9 }), event({ id: 8 })];
    expect(appendPage(a, [event({ id: 8 }), event({ id: 7 })]).map((e) => e.id)).toEqual([9, 8, 7]);
  });
});

describe("how a row reads", () => {
  it("formats the time locally, the hash short, the prompt with its version", () => {
    const local = new Date(Date.parse("2026-11-27T16:01:16.076Z"));
    const p = (n: number) => String(n).padStart(2, "0");
    expect(formatTimestamp("2026-11-27T16:01:16.076Z")).toBe(
      `${local.getFullYear()}-${p(local.getMonth() + 1)}-${p(local.getDate())} ${p(local.getHours())}:${p(local.getMinutes())}:16`,
    );
    expect(formatTimestamp("not a time")).toBe("not a time");
    expect(shortHash("hmac-sha256:5355984abb2cfd7b")).toBe("5355984abb");
    expect(promptLabel(event())).toBe("support_triage@v2");
    expect(promptLabel(event({ prompt_id: null }))).toBe("");
  });
});

describe("auditCsv", () => {
  it("has a header of the server's field names and one line per event", () => {
    const csv = auditCsv([event(), event({ id: 2, status: "error", error_code: "provider_error", policy_decision: "allow, then fail" })]);
    const lines = csv.trimEnd().split("\r\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]!.split(",")).toContain("policy_decision");
    expect(lines[0]!.startsWith("id,timestamp,tenant_id,user_id_hash,event_type")).toBe(true);
    expect(lines[1]).toContain(",0.0000088,");
    expect(lines[2]).toContain(',error,provider_error,"allow, then fail",t1');
  });

  it("names the file after the workspace and the time", () => {
    expect(auditCsvName("tenant_pro", new Date(2026, 10, 27, 16, 5, 9))).toBe("hearth-audit-tenant_pro-20261127-160509.csv");
    expect(auditCsvName("", new Date(2026, 0, 1, 0, 0, 0))).toBe("hearth-audit-all-20260101-000000.csv");
  });
});
