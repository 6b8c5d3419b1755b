// A model pull as state, built from the server-sent events of `POST /admin/models`:
// `progress` events carry a line each ("downloading ... (N bytes) from the hub", "10%", ...,
// "the hub route failed (...); trying the package registry"), then one `done` or `error`.
// A stream that ends without either is a failure too: the UI never claims a download that
// did not finish.

import type { SseEvent } from "../api/sse";

export interface PullState {
  status: "running" | "done" | "error";
  /** Every line the server sent, in order (the percentages included). */
  lines: string[];
  /** The last text line: what the pull is doing now. */
  stage: string | null;
  /** Percent of the current download, when the server reports one. */
  percent: number | null;
  done: { id: string; route: string; path: string | null } | null;
  error: { code: string; message: string } | null;
}

export function startPull(): PullState {
  return { status: "running", lines: [], stage: null, percent: null, done: null, error: null };
}

function parse(data: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(data);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** The state after one event. Events after the end change nothing. */
export function applyPullEvent(s: PullState, ev: SseEvent): PullState {
  if (s.status !== "running") return s;
  const obj = parse(ev.data);
  switch (ev.event) {
    case "progress": {
      const line = str(obj?.line) ?? ev.data;
      const pct = /^\s*(\d{1,3}(?:\.\d+)?)\s*%\s*$/.exec(line);
      if (pct) return { ...s, lines: [...s.lines, line], percent: Math.min(100, Number(pct[1])) };
      // A new step (another route, the install) starts its own count.
      return { ...s, lines: [...s.lines, line], stage: line, percent: /^installed\b/.test(line) ? 100 : null };
    }
    case "done":
      return {
        ...s,
        status: "done",
        percent: 100,
        done: { id: str(obj?.id) ?? "", route: str(obj?.route) ?? "", path: str(obj?.path) },
      };
    case "error":
      return {
        ...s,
        status: "error",
        error: { code: str(obj?.code) ?? "pull_failed", message: str(obj?.message) ?? (ev.data || "the pull failed") },
      };
    default:
      return s;
  }
}

/** The stream closed: still running means it broke off. */
export function endPull(s: PullState): PullState {
  if (s.status !== "running") return s;
  return { ...s, status: "error", error: { code: "stream_ended", message: "the server closed the stream before the pull finished" } };
}

/** A failure of the request itself (refused before the stream, network). */
export function failPull(s: PullState, code: string, message: string): PullState {
  return { ...s, status: "error", error: { code, message } };
}

/** The route of a `done` event (`Hub("/path")`, `Wheel`, `AlreadyInstalled`) in words. */
export function routeLabel(route: string): string {
  if (/^AlreadyInstalled/i.test(route)) return "already installed";
  if (/^Hub/i.test(route)) return "from the model hub";
  if (/^Wheel/i.test(route)) return "from the package registry";
  return route;
}

/** Bytes in the units people read: "93.8 MiB". */
export function formatBytes(n: number | null | undefined): string {
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return "—";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
