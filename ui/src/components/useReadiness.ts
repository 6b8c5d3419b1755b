import { useCallback, useState } from "react";
import { asApiError, type HearthClient } from "../api/client";
import { getReady } from "../api/ready";
import { INITIAL_READINESS, READY_POLL_MS, nextReadiness, readinessPolls, type Readiness } from "../state/readiness";
import { usePoll } from "./usePoll";

/**
 * Polls GET /ready every 2 s while `enabled` until it is ready (or cannot tell). `recheck`
 * starts over (an applied policy may have rebuilt a provider that now loads its model).
 */
export function useReadiness(client: HearthClient, enabled: boolean): [Readiness, () => void] {
  const [readiness, setReadiness] = useState<Readiness>(INITIAL_READINESS);
  const poll = useCallback(async () => {
    try {
      const answer = await getReady(client);
      setReadiness((r) => nextReadiness(r, { ok: true, answer }));
    } catch (e) {
      setReadiness((r) => nextReadiness(r, { ok: false, error: asApiError(e) }));
    }
  }, [client]);
  const [round, setRound] = useState(0);
  usePoll(poll, READY_POLL_MS, enabled && readinessPolls(readiness), round);
  const recheck = useCallback(() => {
    setReadiness(INITIAL_READINESS);
    setRound((n) => n + 1);
  }, []);
  return [readiness, recheck];
}
