// What every view reads: the client, the session, the models of the acting workspace, and
// the shortcut handlers of the view on screen.

import { createContext, useContext, useEffect, useRef } from "react";
import type { HearthClient, ModelInfo, Session } from "../api/client";
import type { ShortcutAction } from "../shortcuts";

export interface AppContextValue {
  client: HearthClient;
  session: Session;
  models: ModelInfo[];
  /** Re-reads the models list (after a workspace switch it is reloaded anyway). */
  reloadModels: () => void;
  /** Re-reads the session (an admin created a workspace: the switcher lists it). */
  reloadSession?: () => void;
  /** Polls GET /ready again until ready (the top bar's "Loading models…"). */
  recheckReady?: () => void;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const v = useContext(AppContext);
  if (!v) throw new Error("useApp outside AppContext");
  return v;
}

export type ShortcutHandlers = Partial<Record<ShortcutAction, () => void>>;

/** The registry the app's key handler calls into; the view on screen fills it. */
export const ShortcutContext = createContext<{ current: ShortcutHandlers } | null>(null);

/** Registers the view's handlers while it is mounted (the latest closures, every render). */
export function useShortcuts(handlers: ShortcutHandlers): void {
  const registry = useContext(ShortcutContext);
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    if (!registry) return;
    const proxy: ShortcutHandlers = {};
    for (const action of Object.keys(latest.current) as ShortcutAction[]) {
      proxy[action] = () => latest.current[action]?.();
    }
    registry.current = proxy;
    return () => {
      if (registry.current === proxy) registry.current = {};
    };
  }, [registry]);
}
