import { useEffect, useRef } from "react";

/**
 * Calls `fn` now and then every `ms` while the page is visible and `enabled` holds; a call
 * never overlaps the previous one, and a hidden tab waits until it is shown again. A new
 * `restartKey` calls at once and starts the period anew.
 */
export function usePoll(fn: () => Promise<void>, ms: number, enabled = true, restartKey: unknown = null): void {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    if (!enabled) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      if (stopped) return;
      if (typeof document === "undefined" || !document.hidden) {
        try {
          await latest.current();
        } catch {
          // The callback reports its own errors.
        }
      }
      if (!stopped) timer = setTimeout(() => void tick(), ms);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [ms, enabled, restartKey]);
}
