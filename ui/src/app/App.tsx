import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { asApiError, type ApiError, type HearthClient, type ModelInfo, type Session } from "../api/client";
import { ErrorNotice } from "../components/ErrorNotice";
import { Notice } from "../components/Notice";
import { useReadiness } from "../components/useReadiness";
import { shortcutOf } from "../shortcuts";
import { ChatView } from "../views/ChatView";
import { CompareView } from "../views/CompareView";
import { CostsView } from "../views/CostsView";
import { RoutingView } from "../views/RoutingView";
import { AdminView } from "../views/AdminView";
import { AuditView } from "../views/AuditView";
import { PromptsView } from "../views/PromptsView";
import { AppContext, ShortcutContext, type ShortcutHandlers } from "./context";
import { KeyScreen } from "./KeyScreen";
import { NavBar, TopBar, VIEWS, type ViewId } from "./Shell";

type Boot =
  | { kind: "connecting" }
  | { kind: "need-key" }
  | { kind: "failed"; error: ApiError }
  | { kind: "ready"; session: Session };

function viewFromHash(hash: string): ViewId {
  const id = hash.replace(/^#\/?/, "");
  const v = VIEWS.find((x) => x.id === id && x.ready);
  return v ? v.id : "chat";
}

function useHashView(): [ViewId, (v: ViewId) => void] {
  const [view, setView] = useState<ViewId>(() => viewFromHash(window.location.hash));
  useEffect(() => {
    const on = () => setView(viewFromHash(window.location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  const go = useCallback((v: ViewId) => {
    window.location.hash = `/${v}`;
    setView(v);
  }, []);
  return [view, go];
}

export function App({ client }: { client: HearthClient }) {
  const [boot, setBoot] = useState<Boot>({ kind: "connecting" });
  const [home, setHome] = useState<string | null>(null);
  const [models, setModels] = useState<ModelInfo[]>([]);
  const [modelsError, setModelsError] = useState<ApiError | null>(null);
  const [modelsVersion, setModelsVersion] = useState(0);
  const [switchError, setSwitchError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [view, setView] = useHashView();
  const [newChatSignal, setNewChatSignal] = useState(0);
  // Each view names itself in the page title (Chat adds the thread's title itself).
  useEffect(() => {
    const label = VIEWS.find((v) => v.id === view)?.label;
    if (view !== "chat" && label) document.title = `${label} · Hearth`;
  }, [view]);
  const shortcuts = useRef<ShortcutHandlers>({});

  const connect = useCallback(async () => {
    setBoot({ kind: "connecting" });
    try {
      const s = await client.connect();
      setHome(s.workspace);
      setBoot({ kind: "ready", session: s });
    } catch (e) {
      const err = asApiError(e);
      setBoot(err.status === 401 ? { kind: "need-key" } : { kind: "failed", error: err });
    }
  }, [client]);

  useEffect(() => {
    void connect();
  }, [connect]);

  // A 401 later on (key revoked, server restarted with a new token): start over.
  useEffect(() => {
    client.onUnauthorized = () => void connect();
    return () => {
      client.onUnauthorized = null;
    };
  }, [client, connect]);

  const session = boot.kind === "ready" ? boot.session : null;
  const workspace = session ? (client.workspace ?? session.workspace) : null;
  // Polled once the session has credentials; it stops for good once ready.
  const [readiness, recheckReady] = useReadiness(client, session !== null);

  useEffect(() => {
    if (!session) return;
    let live = true;
    setModelsError(null);
    client.models().then(
      (m) => live && setModels(m),
      (e) => {
        if (!live) return;
        setModels([]);
        setModelsError(asApiError(e));
      },
    );
    return () => {
      live = false;
    };
  }, [client, session, workspace, modelsVersion]);

  const switchWorkspace = useCallback(
    async (ws: string) => {
      const before = client.workspace;
      client.setWorkspace(ws === home ? null : ws);
      setSwitchError(null);
      try {
        const s = await client.session();
        setBoot({ kind: "ready", session: s });
      } catch (e) {
        client.setWorkspace(before);
        setSwitchError(asApiError(e));
      }
    },
    [client, home],
  );

  const login = useCallback(
    async (key: string) => {
      const s = await client.login(key);
      setHome(s.workspace);
      setNotice(`This key acts in workspace “${s.workspace}” as ${s.role === "admin" ? "an admin" : "a user"} (${s.user}).`);
      setBoot({ kind: "ready", session: s });
    },
    [client],
  );

  const logout = useCallback(() => {
    client.logout();
    setModels([]);
    setNotice(null);
    setBoot({ kind: "need-key" });
  }, [client]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const action = shortcutOf(e);
      if (!action || boot.kind !== "ready") return;
      if (action === "new-chat") {
        e.preventDefault();
        setView("chat");
        setNewChatSignal((n) => n + 1);
        return;
      }
      const handler = shortcuts.current[action];
      if (handler) {
        e.preventDefault();
        handler();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [boot.kind, setView]);

  const reloadSession = useCallback(() => {
    client.session().then(
      (s) => setBoot({ kind: "ready", session: s }),
      () => {}, // The session stays as it was; the next workspace switch reads it again.
    );
  }, [client]);

  const ctx = useMemo(
    () => (session ? { client, session, models, reloadModels: () => setModelsVersion((v) => v + 1), reloadSession, recheckReady } : null),
    [client, session, models, reloadSession, recheckReady],
  );

  if (boot.kind === "connecting") {
    return (
      <div className="center-screen" data-testid="connecting">
        <div className="muted">Connecting to Hearth…</div>
      </div>
    );
  }
  if (boot.kind === "need-key") return <KeyScreen onLogin={login} />;
  if (boot.kind === "failed" || !ctx || !session || !workspace) {
    return (
      <div className="center-screen">
        <div className="card">
          <h1>Hearth cannot start the UI</h1>
          {boot.kind === "failed" && <ErrorNotice error={boot.error} />}
          <button className="primary" onClick={() => void connect()}>
            Try again
          </button>
        </div>
      </div>
    );
  }

  return (
    <AppContext.Provider value={ctx}>
      <ShortcutContext.Provider value={shortcuts}>
        <div className="app">
          <NavBar view={view} onView={setView} />
          <div className="app-main">
            <TopBar
              session={session}
              workspace={workspace}
              onWorkspace={(ws) => void switchWorkspace(ws)}
              canForgetKey={client.credential === "key"}
              onForgetKey={logout}
              readiness={readiness}
            />
            {notice && (
              <Notice testId="login-notice" onDismiss={() => setNotice(null)}>
                {notice}
              </Notice>
            )}
            {switchError && <ErrorNotice error={switchError} onDismiss={() => setSwitchError(null)} />}
            {modelsError && <ErrorNotice error={modelsError} onDismiss={() => setModelsError(null)} />}
            <main className="view" key={workspace}>
              {view === "chat" && <ChatView newChatSignal={newChatSignal} />}
              {view === "compare" && <CompareView />}
              {view === "routing" && <RoutingView />}
              {view === "costs" && <CostsView />}
              {view === "prompts" && <PromptsView />}
              {view === "admin" && <AdminView />}
              {view === "audit" && <AuditView />}
            </main>
          </div>
        </div>
      </ShortcutContext.Provider>
    </AppContext.Provider>
  );
}
