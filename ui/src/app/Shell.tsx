import { useEffect, useRef, useState } from "react";
import type { Session } from "../api/client";
import { SHORTCUTS, isMac } from "../shortcuts";
import { Icon, type IconName } from "../components/Icon";
import { readinessPill, type Readiness } from "../state/readiness";

export type ViewId = "chat" | "compare" | "routing" | "costs" | "prompts" | "admin" | "audit";

/** The seven views; only the ready ones open. The others are shown, disabled, not faked. */
export const VIEWS: { id: ViewId; label: string; icon: IconName; ready: boolean }[] = [
  { id: "chat", label: "Chat", icon: "chat", ready: true },
  { id: "compare", label: "Compare", icon: "compare", ready: true },
  { id: "routing", label: "Routing", icon: "routing", ready: true },
  { id: "costs", label: "Costs", icon: "costs", ready: true },
  { id: "prompts", label: "Prompts", icon: "prompts", ready: true },
  { id: "admin", label: "Admin", icon: "admin", ready: true },
  { id: "audit", label: "Audit", icon: "audit", ready: true },
];

export function NavBar({ view, onView }: { view: ViewId; onView: (v: ViewId) => void }) {
  return (
    <nav className="nav" aria-label="Views">
      <div className="brand">
        <span className="brand-mark" aria-hidden>
          <Icon name="flame" size={22} />
        </span>
        Hearth
      </div>
      <ul>
        {VIEWS.map((v) => (
          <li key={v.id}>
            <button
              className={`nav-item ${view === v.id ? "active" : ""}`}
              disabled={!v.ready}
              aria-current={view === v.id ? "page" : undefined}
              onClick={() => onView(v.id)}
              title={v.ready ? v.label : `${v.label}: not built yet`}
              data-testid={`nav-${v.id}`}
            >
              <Icon name={v.icon} size={18} />
              {v.label}
              {!v.ready && <span className="nav-soon">soon</span>}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function TopBar(props: {
  session: Session;
  workspace: string;
  onWorkspace: (ws: string) => void;
  canForgetKey: boolean;
  onForgetKey: () => void;
  readiness: Readiness;
}) {
  const { session } = props;
  const loading = readinessPill(props.readiness);
  const workspaces = session.workspaces ?? [];
  const localOnly = session.data_policy === "local_only";
  return (
    <header className="topbar">
      <label className="ws">
        <span className="label">Workspace</span>
        {session.role === "admin" && workspaces.length > 0 ? (
          <select
            value={props.workspace}
            onChange={(e) => props.onWorkspace(e.target.value)}
            data-testid="workspace-select"
            aria-label="Workspace"
          >
            {!workspaces.includes(props.workspace) && <option value={props.workspace}>{props.workspace}</option>}
            {workspaces.map((w) => (
              <option key={w} value={w}>
                {w}
              </option>
            ))}
          </select>
        ) : (
          <strong data-testid="workspace-name">{props.workspace}</strong>
        )}
      </label>
      <span className="pill" title={`signed in as ${session.user}`} data-testid="role">
        {session.role}
      </span>
      <span className="pill subtle" title="tier">
        {session.tier}
      </span>
      {localOnly ? (
        <span className="badge-local" data-testid="local-badge" title="This workspace's data policy is local_only: prompts go to on-device models only">
          <Icon name="lock" size={14} /> Nothing leaves this device
        </span>
      ) : (
        <span className="pill subtle" title="data policy" data-testid="data-policy">
          data: {session.data_policy}
        </span>
      )}
      {session.demo && (
        <span className="pill demo" title="hearth serve --demo: mock providers">
          demo
        </span>
      )}
      {loading && (
        <span className="pill loading" role="status" title={loading.title} data-testid="ready-pill">
          <span className="spinner" aria-hidden />
          {loading.label}
        </span>
      )}
      <span className="grow" />
      <span className="muted user">{session.user}</span>
      <ShortcutHelp />
      {props.canForgetKey && (
        <button className="small" onClick={props.onForgetKey} title="Forget the API key kept in this browser">
          Forget key
        </button>
      )}
    </header>
  );
}

function ShortcutHelp() {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const mac = isMac();
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    window.addEventListener("mousedown", close);
    return () => window.removeEventListener("mousedown", close);
  }, [open]);
  return (
    <div className="help" ref={ref}>
      <button
        className="icon-button"
        onClick={() => setOpen((o) => !o)}
        aria-expanded={open}
        aria-label="Keyboard shortcuts"
        title="Keyboard shortcuts"
        data-testid="shortcuts-button"
      >
        <Icon name="keyboard" size={18} />
      </button>
      {open && (
        <div className="popover" role="dialog" aria-label="Keyboard shortcuts">
          <h4>Keyboard shortcuts</h4>
          <table>
            <tbody>
              {SHORTCUTS.map((s) => (
                <tr key={s.action}>
                  <td>
                    <kbd>{s.keys(mac)}</kbd>
                  </td>
                  <td>{s.what}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
