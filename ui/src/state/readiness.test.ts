import { describe, expect, it } from "vitest";
import { ApiError, HearthClient } from "../api/client";
import { getReady, readyAnswerOf } from "../api/ready";
import {
  INITIAL_READINESS,
  READY_MAX_FAILURES,
  nextReadiness,
  readinessPill,
  readinessPolls,
  type Readiness,
  type ReadyOutcome,
} from "./readiness";

const notReady = (...reasons: string[]): ReadyOutcome => ({ ok: true, answer: { ready: false, reasons, checks: {} } });
const ready: ReadyOutcome = { ok: true, answer: { ready: true, checks: { database: true } } };
const fail = (status: number): ReadyOutcome => ({ ok: false, error: new ApiError({ status, code: `http_${status}`, message: "x" }) });

function run(...outcomes: ReadyOutcome[]): Readiness {
  return outcomes.reduce(nextReadiness, INITIAL_READINESS);
}

describe("readiness from GET /ready", () => {
  it("shows nothing before the first answer, and polls", () => {
    expect(readinessPill(INITIAL_READINESS)).toBeNull();
    expect(readinessPolls(INITIAL_READINESS)).toBe(true);
  });

  it("shows Loading models… with the reasons while not ready, then hides and stops once ready", () => {
    const loading = run(notReady("route `chat` has no usable provider"));
    expect(loading.phase).toBe("loading");
    expect(readinessPolls(loading)).toBe(true);
    const pill = readinessPill(loading);
    expect(pill?.label).toBe("Loading models…");
    expect(pill?.title).toContain("route `chat` has no usable provider");
    const done = nextReadiness(loading, ready);
    expect(done).toEqual({ phase: "ready" });
    expect(readinessPill(done)).toBeNull();
    expect(readinessPolls(done)).toBe(false);
  });

  it("takes the newest reasons on every poll", () => {
    const r = run(notReady("a", "b"), notReady("b"));
    expect(r).toEqual({ phase: "loading", reasons: ["b"], failures: 0 });
  });

  it("never leaves ready (a later answer does not bring the pill back)", () => {
    expect(run(ready, notReady("x")).phase).toBe("ready");
  });

  it("hides the pill and stops at once on a 401, 403 or 404", () => {
    for (const status of [401, 403, 404]) {
      const r = run(notReady("x"), fail(status));
      expect(r.phase).toBe("unavailable");
      expect(readinessPill(r)).toBeNull();
      expect(readinessPolls(r)).toBe(false);
    }
  });

  it("rides out a network blip while loading, and gives up when it keeps failing", () => {
    const blip = run(notReady("x"), fail(0));
    expect(blip.phase).toBe("loading");
    expect(readinessPill(blip)).not.toBeNull();
    expect(nextReadiness(blip, notReady("x"))).toEqual({ phase: "loading", reasons: ["x"], failures: 0 });
    const failures = Array.from({ length: READY_MAX_FAILURES }, () => fail(502));
    const r = run(notReady("x"), ...failures);
    expect(r.phase).toBe("unavailable");
    expect(readinessPolls(r)).toBe(false);
  });

  it("shows nothing while the first answers fail", () => {
    const r = run(fail(0));
    expect(r).toEqual({ phase: "checking", failures: 1 });
    expect(readinessPill(r)).toBeNull();
    expect(readinessPolls(r)).toBe(true);
  });

  it("reads the two answers of /ready and refuses anything else", () => {
    expect(readyAnswerOf(200, { status: "ready", checks: { database: true } })).toEqual({ ready: true, checks: { database: true } });
    expect(readyAnswerOf(503, { status: "not_ready", reasons: ["the database does not answer"], checks: {} })).toEqual({
      ready: false,
      reasons: ["the database does not answer"],
      checks: {},
    });
    expect(() => readyAnswerOf(503, {})).toThrow(ApiError);
  });
});

describe("getReady", () => {
  const clientAnswering = (status: number, body: unknown) => {
    const seen: string[] = [];
    const client = new HearthClient({
      fetch: (async (url: RequestInfo | URL) => {
        seen.push(String(url));
        return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
      }) as typeof fetch,
    });
    return { client, seen };
  };

  it("reads the 503 not_ready body instead of throwing", async () => {
    const { client, seen } = clientAnswering(503, { status: "not_ready", reasons: ["route `chat` has no usable provider"], checks: {} });
    expect(await getReady(client)).toEqual({ ready: false, reasons: ["route `chat` has no usable provider"], checks: {} });
    expect(seen).toEqual(["/ready"]);
  });

  it("throws on a 401 without bringing up the key screen", async () => {
    const { client } = clientAnswering(401, { error: { code: "unauthorized", message: "missing or unknown API key" } });
    let called = false;
    client.onUnauthorized = () => {
      called = true;
    };
    await expect(getReady(client)).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(called).toBe(false);
  });
});
