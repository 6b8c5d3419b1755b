// Downloading a file a model search found: a catalog entry by its id (`POST /admin/models
// {"id"}`), any other hub file by repository and file (`{"hub": {"repo", "file"}}`), which
// the server installs as `local/<name>`, the name coming from the file name as below.

import type { PullRequest, SearchHit } from "../api/admin";
import { asApiError, isAbortError } from "../api/client";
import type { SseEvent } from "../api/sse";
import { applyPullEvent, endPull, failPull, startPull, type PullState } from "./models";

/** What `POST /admin/models` is sent to download a search hit. */
export function pullRequestFor(hit: Pick<SearchHit, "repo" | "file" | "catalog_id">): PullRequest {
  return hit.catalog_id ? { id: hit.catalog_id } : { hub: { repo: hit.repo, file: hit.file } };
}

/**
 * The name a hub file is installed under when none is given, as the server derives it: the
 * file name without `.gguf`, lower-case, other characters than letters, digits, '_', '.' and
 * '-' turned into '-', no leading '.', at most 64 characters.
 */
export function defaultLocalName(file: string): string {
  const base = file.split("/").pop() ?? file;
  const stem = base.replace(/\.gguf$/i, "");
  const name = stem
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, "-")
    .slice(0, 64)
    .replace(/^\.+/, "");
  return name || "model";
}

/** The model a search hit becomes once downloaded: `local/<id or name>`. */
export function localModelFor(hit: Pick<SearchHit, "file" | "catalog_id">): string {
  return `local/${hit.catalog_id ?? defaultLocalName(hit.file)}`;
}

/** A hit's key among the results (and for its download's state). */
export function hitKey(hit: Pick<SearchHit, "repo" | "file">): string {
  return `${hit.repo}/${hit.file}`;
}

/** Why a hit cannot be downloaded, or null when it can: Hearth has no kernel for its quant. */
export function downloadBlocked(hit: Pick<SearchHit, "runs" | "quant">): string | null {
  return hit.runs ? null : `Hearth has no kernel for ${hit.quant} files yet`;
}

/** The downloads still running: a new search drops the finished ones' progress. */
export function keepRunning(pulls: Record<string, PullState>): Record<string, PullState> {
  return Object.fromEntries(Object.entries(pulls).filter(([, s]) => s.status === "running"));
}

/** What the UI says of a download the user stopped. */
export const STOPPED = "stopped: the server cancels the download and deletes its partial file";

/**
 * Follows a pull's events to its end, handing each state to `onState`; returns the last.
 * A stream that breaks off, a refusal before it starts and a stop end as errors.
 */
export async function followPull(events: AsyncIterable<SseEvent>, onState: (s: PullState) => void): Promise<PullState> {
  let s = startPull();
  onState(s);
  try {
    for await (const ev of events) {
      s = applyPullEvent(s, ev);
      onState(s);
    }
    s = endPull(s);
  } catch (e) {
    if (isAbortError(e)) s = failPull(s, "stopped", STOPPED);
    else {
      const err = asApiError(e);
      s = failPull(s, err.code, err.message);
    }
  }
  onState(s);
  return s;
}
