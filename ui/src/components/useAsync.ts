import { useCallback, useEffect, useState } from "react";
import { asApiError, type ApiError } from "../api/client";

/**
 * Reads `read()` now and again on every `reload()`: the last good answer, whether a read has
 * finished, and its error (cleared by the next good read). `read` must be stable
 * (useCallback): a new one reads again.
 */
export function useLoad<T>(read: () => Promise<T>, initial: T) {
  const [data, setData] = useState<T>(initial);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const reload = useCallback(async () => {
    try {
      setData(await read());
      setError(null);
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setLoaded(true);
    }
  }, [read]);

  useEffect(() => {
    void reload();
  }, [reload]);

  return { data, loaded, error, setError, reload };
}

/** Runs an action and reports what it throws, as an ApiError, through `setError`. */
export type RunBusy = (action: () => Promise<void>, setError: (e: ApiError | null) => void) => Promise<void>;

/**
 * A busy flag for actions (create, save, revoke, …): `run(action, setError)` clears the
 * error, holds `busy` while the action runs and hands a failure to `setError`. One flag may
 * serve several actions of a form, each with its own error.
 */
export function useBusy(): [boolean, RunBusy] {
  const [busy, setBusy] = useState(false);
  const run = useCallback<RunBusy>(async (action, setError) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }, []);
  return [busy, run];
}
