import { Fragment, useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import {
  bareModelId,
  createKey,
  createWorkspace,
  importModel,
  isHosted,
  listKeys,
  listLocalModels,
  describeRuntime,
  listProviders,
  listWorkspaces,
  NO_LOCAL_MODELS,
  patchWorkspace,
  policyTiers,
  providerLocality,
  pullModel,
  pullWith,
  removeModel,
  requestModelName,
  revokeKey,
  searchModels,
  setProviderKey,
  testProvider,
  setRoutePrimary,
  type CreatedKey,
  type ImportedModel,
  type KeyInfo,
  type LocalModel,
  type LocalModels,
  type ModelPool,
  type ModelSearch,
  type ProviderInfo,
  type ProviderTest,
  type SearchHit,
  type WorkspaceView,
} from "../api/admin";
import { ApiError, asApiError, isAbortError, type DataPolicy, type Role } from "../api/client";
import { useApp } from "../app/context";
import { Confirm } from "../components/Confirm";
import { ErrorNotice } from "../components/ErrorNotice";
import { Icon } from "../components/Icon";
import { AdminOnly, needsAdmin } from "../components/AdminNotice";
import { EmptyRow } from "../components/EmptyRow";
import { Field, Options } from "../components/Field";
import { MeterBar } from "../components/MeterBar";
import { Notice } from "../components/Notice";
import { Tabs } from "../components/Tabs";
import { useBusy, useLoad } from "../components/useAsync";
import { usePoll } from "../components/usePoll";
import { formatCost, formatLatency, formatTokens, formatWhen } from "../format";
import { DATA_POLICIES, hasErrors, workspaceForm, workspacePatch, type FormErrors, type WorkspaceForm } from "../state/forms";
import { applyPullEvent, endPull, failPull, formatBytes, routeLabel, startPull, type PullState } from "../state/models";
import { downloadBlocked, followPull, hitKey, keepRunning, localModelFor, pullRequestFor } from "../state/hubPull";
import {
  budgetText,
  budgetUse,
  idleRuleText,
  POOL_POLL_MS,
  runtimeDetail,
  runtimeOf,
  runtimeText,
  unlisted,
  type ModelRuntime,
} from "../state/pool";

type Tab = "workspaces" | "keys" | "providers" | "models";
const TABS: { id: Tab; label: string }[] = [
  { id: "workspaces", label: "Workspaces" },
  { id: "keys", label: "API keys" },
  { id: "providers", label: "Providers" },
  { id: "models", label: "Local models" },
];

export function AdminView() {
  const { client } = useApp();
  const [tab, setTab] = useState<Tab>("workspaces");
  const read = useCallback(() => listWorkspaces(client), [client]);
  const { data: workspaces, loaded, error, setError, reload: loadWorkspaces } = useLoad<WorkspaceView[]>(read, []);

  if (error && needsAdmin(error)) return <AdminOnly what="The admin console" error={error} />;

  return (
    <div className="admin-view">
      <header className="pane-head view-head">
        <h2>Admin</h2>
        <Tabs tabs={TABS} active={tab} onSelect={setTab} testIdPrefix="admin-tab-" />
      </header>
      <div className="admin-body">
        {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
        {tab === "workspaces" && loaded && <WorkspacesTab workspaces={workspaces} reload={loadWorkspaces} />}
        {tab === "keys" && <KeysTab workspaces={workspaces.map((w) => w.workspace.id)} />}
        {tab === "providers" && <ProvidersTab />}
        {tab === "models" && <ModelsTab />}
      </div>
    </div>
  );
}

function YesNo({ yes, good = true }: { yes: boolean; good?: boolean }) {
  return <span className={`yn ${yes === good ? "yn-good" : "yn-bad"}`}>{yes ? "yes" : "no"}</span>;
}

// ---------------------------------------------------------------------------------------
// Workspaces

function limitText(n: number | null, unit = ""): string {
  return n === null ? "—" : `${formatTokens(n)}${unit}`;
}

function WorkspacesTab({ workspaces, reload }: { workspaces: WorkspaceView[]; reload: () => Promise<void> }) {
  const { client, session, reloadSession } = useApp();
  const [editing, setEditing] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [tiers, setTiers] = useState<string[]>([]);

  useEffect(() => {
    policyTiers(client).then(setTiers, () => setTiers([]));
  }, [client]);
  const tierChoices = [...new Set([...tiers, ...workspaces.map((w) => w.workspace.tier)])].sort();
  const current = workspaces.find((w) => w.workspace.id === editing) ?? null;

  return (
    <section className="admin-section" data-testid="workspaces-tab">
      <div className="section-bar">
        <p className="muted">
          Limits left empty fall back to the tier's (budget, rpm) or to none (tokens, user rpm). Spend is today's ({workspaces[0]?.today.day ?? "UTC"}).
        </p>
        <button
          className="primary small"
          onClick={() => {
            setCreating((c) => !c);
            setEditing(null);
          }}
          data-testid="new-workspace"
        >
          New workspace
        </button>
      </div>
      {creating && (
        <NewWorkspaceForm
          tiers={tierChoices}
          onDone={async (id) => {
            setCreating(false);
            await reload();
            reloadSession?.();
            setSaved(`Created workspace ${id}.`);
          }}
          onCancel={() => setCreating(false)}
        />
      )}
      {saved && (
        <Notice className="notice ok-notice" testId="saved-notice" onDismiss={() => setSaved(null)}>
          {saved}
        </Notice>
      )}
      <div className="table-wrap">
        <table className="data-table" data-testid="workspace-table">
          <thead>
            <tr>
              <th>Workspace</th>
              <th>Tier</th>
              <th>Data policy</th>
              <th className="num">Budget/day</th>
              <th className="num">Spent</th>
              <th className="num">Tokens/day</th>
              <th className="num">RPM</th>
              <th className="num">User RPM</th>
              <th className="num" title="requests in flight at once">Conc.</th>
              <th>Cache</th>
              <th className="num" title="alert at this share of the budget">Alert</th>
              <th title="the workspace's own PII patterns">PII</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {workspaces.map(({ workspace: w, effective_daily_budget_usd, today }) => (
              <tr key={w.id} className={editing === w.id ? "selected" : ""} data-testid="workspace-row" data-workspace={w.id}>
                <td className="mono">
                  {w.id}
                  {w.id === session.workspace && (
                    <span className="you" title="the workspace of the key this UI uses">
                      {" "}
                      ·&nbsp;yours
                    </span>
                  )}
                </td>
                <td>{w.tier}</td>
                <td>
                  <span className={`policy policy-${w.data_policy}`}>{w.data_policy}</span>
                </td>
                <td className="num" data-testid="ws-budget">
                  {formatCost(effective_daily_budget_usd)}
                  {w.daily_budget_usd === null && <span className="muted small-text"> tier</span>}
                </td>
                <td className="num">{formatCost(today.spent_usd)}</td>
                <td className="num">
                  {limitText(w.daily_token_limit)}
                  <div className="muted small-text">{formatTokens(today.tokens)} used</div>
                </td>
                <td className="num">{w.rpm === null ? <span className="muted">tier</span> : formatTokens(w.rpm)}</td>
                <td className="num">{limitText(w.user_rpm)}</td>
                <td className="num">{w.max_concurrency}</td>
                <td>{w.cache_enabled ? "on" : <span className="muted">off</span>}</td>
                <td className="num">{Math.round(w.budget_alert_share * 100)}%</td>
                <td>{w.pii_patterns.length > 0 ? `${w.pii_patterns.length}` : <span className="muted">—</span>}</td>
                <td>
                  <button
                    className="small"
                    onClick={() => {
                      setEditing(editing === w.id ? null : w.id);
                      setCreating(false);
                      setSaved(null);
                    }}
                    data-testid="edit-workspace"
                  >
                    <Icon name="pencil" size={14} /> Edit
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {current && (
        <WorkspaceEditor
          key={current.workspace.id}
          view={current}
          tiers={tierChoices}
          onSaved={async (id) => {
            await reload();
            setSaved(`Saved ${id}.`);
          }}
          onClose={() => setEditing(null)}
        />
      )}
    </section>
  );
}

function WorkspaceEditor({
  view,
  tiers,
  onSaved,
  onClose,
}: {
  view: WorkspaceView;
  tiers: string[];
  onSaved: (id: string) => Promise<void>;
  onClose: () => void;
}) {
  const { client } = useApp();
  const ws = view.workspace;
  const [form, setForm] = useState<WorkspaceForm>(() => workspaceForm(ws));
  const [errors, setErrors] = useState<FormErrors<WorkspaceForm>>({});
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, run] = useBusy();
  const [savedNote, setSavedNote] = useState(false);
  const set = <K extends keyof WorkspaceForm>(k: K, v: WorkspaceForm[K]) => {
    setSavedNote(false);
    setForm((f) => ({ ...f, [k]: v }));
  };
  const { patch, errors: live } = workspacePatch(ws, form);
  // Text that is not a number counts as a change: Save then says what is wrong with it.
  const dirty = Object.keys(patch).length > 0 || hasErrors(live);

  const save = async () => {
    const { patch: p, errors: errs } = workspacePatch(ws, form);
    setErrors(errs);
    setError(null);
    if (hasErrors(errs) || Object.keys(p).length === 0) return;
    await run(async () => {
      const updated = await patchWorkspace(client, ws.id, p);
      setForm(workspaceForm(updated.workspace));
      setSavedNote(true);
      await onSaved(ws.id);
    }, setError);
  };

  const num = (k: keyof WorkspaceForm, label: string, hint: ReactNode, placeholder = "") => (
    <Field label={label} error={errors[k]} hint={hint}>
      <input
        className="num"
        inputMode="decimal"
        value={form[k] as string}
        placeholder={placeholder}
        onChange={(e) => set(k, e.target.value as never)}
        aria-invalid={errors[k] !== undefined}
        data-testid={`ws-${k}`}
      />
    </Field>
  );

  return (
    <form
      className="editor-panel"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
      data-testid="workspace-editor"
    >
      <div className="editor-head">
        <h3>
          Edit <span className="mono">{ws.id}</span>
        </h3>
        <button type="button" className="icon-button" onClick={onClose} aria-label="Close">
          <Icon name="close" size={16} />
        </button>
      </div>
      <div className="form-grid cols-4">
        <Field label="Tier">
          <select value={form.tier} onChange={(e) => set("tier", e.target.value)} data-testid="ws-tier">
            <Options values={tiers} />
          </select>
        </Field>
        <Field label="Data policy" hint={policyHint(form.data_policy)}>
          <select value={form.data_policy} onChange={(e) => set("data_policy", e.target.value as DataPolicy)} data-testid="ws-data_policy">
            <Options values={DATA_POLICIES} />
          </select>
        </Field>
        {num("daily_budget_usd", "Daily budget (USD)", ws.daily_budget_usd === null ? `empty: the tier's ${formatCost(view.effective_daily_budget_usd)}` : "USD a day", "tier default")}
        {num("budget_alert_share", "Alert at share of budget", "0-1; 0.8 alerts at 80%")}
        {num("daily_token_limit", "Daily token limit", "input + output tokens; empty: none", "no limit")}
        {num("rpm", "Requests / minute", "whole workspace; empty: the tier's", "tier default")}
        {num("user_rpm", "Requests / minute per user", "empty: none", "no limit")}
        {num("max_concurrency", "Concurrent requests", "in flight at once")}
        <Field label="Exact cache" hint="serve and store identical deterministic requests">
          <label className="check">
            <input type="checkbox" checked={form.cache_enabled} onChange={(e) => set("cache_enabled", e.target.checked)} data-testid="ws-cache_enabled" />
            {form.cache_enabled ? "on" : "off"}
          </label>
        </Field>
        <Field label="PII patterns (one regex a line)" error={errors.pii_patterns} hint="on top of the built-in detectors; empty clears" wide>
          <textarea
            className="mono"
            rows={3}
            value={form.pii_patterns}
            onChange={(e) => set("pii_patterns", e.target.value)}
            placeholder={"\\bACME-\\d{6}\\b"}
            data-testid="ws-pii_patterns"
          />
        </Field>
        <Field
          label="Allowed tools (one name or prefix* a line)"
          error={errors.allowed_tools}
          hint="a request offering another tool is refused (403 tool_not_allowed); * allows every tool, empty allows none"
          wide
        >
          <textarea
            className="mono"
            rows={2}
            value={form.allowed_tools}
            onChange={(e) => set("allowed_tools", e.target.value)}
            placeholder="*"
            data-testid="ws-allowed_tools"
          />
        </Field>
      </div>
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
      <div className="form-actions">
        <button className="primary" type="submit" disabled={busy || !dirty} data-testid="save-workspace">
          {busy ? "Saving…" : "Save"}
        </button>
        <button type="button" onClick={() => setForm(workspaceForm(ws))} disabled={busy || !dirty}>
          Reset
        </button>
        {savedNote && !dirty ? (
          <span className="test-ok" data-testid="workspace-saved">
            Saved.
          </span>
        ) : (
          <span className="muted small-text">{dirty ? `changes: ${Object.keys(patch).join(", ")}` : "no changes"}</span>
        )}
      </div>
    </form>
  );
}

function policyHint(p: DataPolicy): string {
  switch (p) {
    case "local_only":
      return "on-device models only, never hosted";
    case "pii_to_local_only":
      return "requests with PII go on-device only";
    case "redact":
      return "PII replaced before a hosted model sees it";
    case "any":
      return "any provider the tier allows";
  }
}

function NewWorkspaceForm({ tiers, onDone, onCancel }: { tiers: string[]; onDone: (id: string) => Promise<void>; onCancel: () => void }) {
  const { client } = useApp();
  const [id, setId] = useState("");
  const [tier, setTier] = useState(tiers[0] ?? "");
  const [policy, setPolicy] = useState<DataPolicy>("any");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, run] = useBusy();
  useEffect(() => {
    if (!tier && tiers[0]) setTier(tiers[0]);
  }, [tiers, tier]);
  return (
    <form
      className="editor-panel"
      onSubmit={async (e) => {
        e.preventDefault();
        await run(async () => {
          await createWorkspace(client, { id: id.trim(), tier, data_policy: policy });
          await onDone(id.trim());
        }, setError);
      }}
      data-testid="new-workspace-form"
    >
      <div className="form-grid cols-4">
        <Field label="Id" hint="letters, digits, '_' or '-'">
          <input value={id} onChange={(e) => setId(e.target.value)} className="mono" autoFocus data-testid="new-workspace-id" />
        </Field>
        <Field label="Tier">
          <select value={tier} onChange={(e) => setTier(e.target.value)}>
            <Options values={tiers} />
          </select>
        </Field>
        <Field label="Data policy">
          <select value={policy} onChange={(e) => setPolicy(e.target.value as DataPolicy)}>
            <Options values={DATA_POLICIES} />
          </select>
        </Field>
        <div className="form-actions end">
          <button className="primary" type="submit" disabled={busy || !id.trim() || !tier}>
            Create
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </div>
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
    </form>
  );
}

// ---------------------------------------------------------------------------------------
// API keys

const ROLE_HINTS: Record<Role, string> = {
  user: "calls models as its own user, reads its audit log",
  service: "an app's back end: may name the end user of each request",
  admin: "also manages the whole install",
};

function KeysTab({ workspaces }: { workspaces: string[] }) {
  const { client, session } = useApp();
  const acting = client.workspace ?? session.workspace;
  const [keys, setKeys] = useState<KeyInfo[]>([]);
  const [filter, setFilter] = useState("");
  const [showRevoked, setShowRevoked] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [ws, setWs] = useState(acting);
  const [role, setRole] = useState<Role>("user");
  const [user, setUser] = useState("");
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);
  const [revoking, setRevoking] = useState<string | null>(null);
  const [busy, run] = useBusy();
  const keyRef = useRef<HTMLInputElement>(null);

  const load = useCallback(async () => {
    try {
      setKeys(await listKeys(client, filter || undefined));
    } catch (e) {
      setError(asApiError(e));
    }
  }, [client, filter]);

  useEffect(() => {
    void load();
  }, [load]);

  const create = async () => {
    setCopied(null);
    await run(async () => {
      const k = await createKey(client, { workspace: ws, role, ...(user.trim() ? { user: user.trim() } : {}) });
      setCreated(k);
      setUser("");
      await load();
    }, setError);
  };

  const copy = async () => {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied("yes");
    } catch {
      // No clipboard (permissions, an old browser): select the text for Ctrl+C instead.
      keyRef.current?.select();
      setCopied("no");
    }
  };

  const revoke = (id: string) =>
    run(async () => {
      await revokeKey(client, id);
      setRevoking(null);
      await load();
    }, setError);

  const shown = keys.filter((k) => showRevoked || k.revoked_at_ms === null);
  const revokedCount = keys.length - keys.filter((k) => k.revoked_at_ms === null).length;

  return (
    <section className="admin-section" data-testid="keys-tab">
      <form
        className="editor-panel"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
        data-testid="new-key-form"
      >
        <h3>Create a key</h3>
        <div className="form-grid cols-4">
          <Field label="Workspace" hint="the key bills to it">
            <select value={ws} onChange={(e) => setWs(e.target.value)} data-testid="key-workspace">
              <Options values={[...new Set([acting, ...workspaces])]} />
            </select>
          </Field>
          <Field label="Role" hint={ROLE_HINTS[role]}>
            <select value={role} onChange={(e) => setRole(e.target.value as Role)} data-testid="key-role">
              <option value="user">user</option>
              <option value="service">service</option>
              <option value="admin">admin</option>
            </select>
          </Field>
          <Field label="User" hint="who holds it (default: api)">
            <input value={user} onChange={(e) => setUser(e.target.value)} placeholder="alice" data-testid="key-user" />
          </Field>
          <div className="form-actions end">
            <button className="primary" type="submit" disabled={busy} data-testid="create-key">
              Create key
            </button>
          </div>
        </div>
      </form>

      {created && (
        <div className="secret-panel" role="status" data-testid="created-key">
          <div className="secret-head">
            <Icon name="lock" size={16} />
            <strong>Copy this key now: it won't be shown again.</strong>
            <span className="muted small-text">
              Hearth keeps only its hash. Key <code>{created.id}</code> for {created.user} in {created.workspace} ({created.role}).
            </span>
          </div>
          <div className="input-row">
            <input ref={keyRef} className="mono secret-value" readOnly value={created.key} onFocus={(e) => e.target.select()} data-testid="created-key-value" aria-label="The new key" />
            <button className="primary" type="button" onClick={() => void copy()} data-testid="copy-key">
              {copied === "yes" ? "Copied" : "Copy"}
            </button>
            <button
              type="button"
              onClick={() => {
                setCreated(null);
                setCopied(null);
              }}
              data-testid="dismiss-key"
            >
              I have saved it
            </button>
          </div>
          {copied === "no" && <span className="field-hint">The browser refused the clipboard: the key is selected, press Ctrl+C.</span>}
        </div>
      )}

      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}

      <div className="section-bar">
        <label className="inline-label">
          <span>Workspace</span>
          <select value={filter} onChange={(e) => setFilter(e.target.value)} data-testid="keys-filter">
            <option value="">all</option>
            <Options values={workspaces} />
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} />
          Show revoked ({revokedCount})
        </label>
      </div>
      <div className="table-wrap">
        <table className="data-table" data-testid="key-table">
          <thead>
            <tr>
              <th>Key id</th>
              <th>Workspace</th>
              <th>User</th>
              <th>Role</th>
              <th>Created</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {shown.map((k) => (
              <tr key={k.id} className={k.revoked_at_ms !== null ? "dim" : ""} data-testid="key-row" data-key-id={k.id}>
                <td className="mono">{k.id}</td>
                <td className="mono">{k.workspace}</td>
                <td>{k.user}</td>
                <td>
                  <span className={`pill ${k.role === "admin" ? "" : "subtle"}`}>{k.role}</span>
                </td>
                <td>{formatWhen(k.created_at_ms)}</td>
                <td data-testid="key-state">{k.revoked_at_ms !== null ? `revoked ${formatWhen(k.revoked_at_ms)}` : "live"}</td>
                <td className="actions">
                  {k.revoked_at_ms === null &&
                    (revoking === k.id ? (
                      <Confirm action="Revoke" danger busy={busy} onConfirm={() => void revoke(k.id)} onCancel={() => setRevoking(null)}>
                        Anything using <code>{k.id}</code> gets 401 from now on.
                      </Confirm>
                    ) : (
                      <button className="small" onClick={() => setRevoking(k.id)} data-testid="revoke-key">
                        Revoke
                      </button>
                    ))}
                </td>
              </tr>
            ))}
            {shown.length === 0 && (
              <EmptyRow cols={7}>
                No {showRevoked ? "" : "live "}keys{filter ? ` in ${filter}` : ""}. The UI's own session token is not listed.
              </EmptyRow>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

// ---------------------------------------------------------------------------------------
// Providers

function breakerClass(state: string): string {
  if (state === "closed") return "yn-good";
  if (state === "open") return "yn-bad";
  return "yn-warn";
}

function ProvidersTab() {
  const { client } = useApp();
  const read = useCallback(() => listProviders(client), [client]);
  const { data: providers, loaded, error, setError, reload: load } = useLoad<ProviderInfo[]>(read, []);
  const [tests, setTests] = useState<Record<string, { running: boolean; result?: ProviderTest; error?: ApiError }>>({});
  const [keyFor, setKeyFor] = useState<string | null>(null);

  const test = async (name: string) => {
    setTests((t) => ({ ...t, [name]: { running: true } }));
    try {
      const result = await testProvider(client, name);
      setTests((t) => ({ ...t, [name]: { running: false, result } }));
    } catch (e) {
      setTests((t) => ({ ...t, [name]: { running: false, error: asApiError(e) } }));
    }
    void load(); // The test may have moved the breaker.
  };

  return (
    <section className="admin-section" data-testid="providers-tab">
      <div className="section-bar">
        <p className="muted">A test makes one cheap call (the provider's model list). A key set here is stored in the OS keychain and used from the next start.</p>
        <button className="small" onClick={() => void load()}>
          <Icon name="rerun" size={14} /> Refresh
        </button>
      </div>
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
      <div className="table-wrap">
        <table className="data-table" data-testid="provider-table">
          <thead>
            <tr>
              <th>Provider</th>
              <th>Kind</th>
              <th>Runs</th>
              <th>Usable</th>
              <th>Circuit breaker</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {providers.map((p) => {
              const loc = providerLocality(p);
              const t = tests[p.name];
              return (
                <ProviderRows
                  key={p.name}
                  p={p}
                  loc={loc}
                  test={t}
                  onTest={() => void test(p.name)}
                  keyOpen={keyFor === p.name}
                  onKey={() => setKeyFor(keyFor === p.name ? null : p.name)}
                />
              );
            })}
            {loaded && providers.length === 0 && <EmptyRow cols={6}>No providers in the policy.</EmptyRow>}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function ProviderRows({
  p,
  loc,
  test,
  onTest,
  keyOpen,
  onKey,
}: {
  p: ProviderInfo;
  loc: ReturnType<typeof providerLocality>;
  test: { running: boolean; result?: ProviderTest; error?: ApiError } | undefined;
  onTest: () => void;
  keyOpen: boolean;
  onKey: () => void;
}) {
  const hosted = isHosted(p);
  const models = test?.result?.models ?? [];
  return (
    <>
      <tr data-testid="provider-row" data-provider={p.name}>
        <td className="mono">{p.name}</td>
        <td>{p.config?.kind ?? "—"}</td>
        <td>{loc ? <span className={`tag ${loc === "on_device" ? "tag-local" : "tag-hosted"}`}>{loc === "on_device" ? "on device" : "hosted"}</span> : "—"}</td>
        <td>
          <YesNo yes={p.usable} />
        </td>
        <td>
          <span className={`yn ${breakerClass(p.breaker.state)}`} data-testid="breaker">
            {p.breaker.state}
          </span>
          {p.breaker.consecutive_failures > 0 && <span className="muted small-text"> · {p.breaker.consecutive_failures} failures in a row</span>}
        </td>
        <td className="actions">
          <button className="small" onClick={onTest} disabled={test?.running} data-testid="test-provider">
            {test?.running ? "Testing…" : "Test connection"}
          </button>
          {hosted ? (
            <button className="small" onClick={onKey} data-testid="set-key" aria-expanded={keyOpen}>
              <Icon name="lock" size={14} /> Set key
            </button>
          ) : (
            <span className="muted small-text" title="mock and local providers take no key">
              no key needed
            </span>
          )}
        </td>
      </tr>
      {test && !test.running && (
        <tr className="detail-row">
          <td colSpan={6} data-testid="test-result" data-ok={test.result?.ok === true ? "true" : "false"}>
            {test.error ? (
              <ErrorNotice error={test.error} />
            ) : test.result?.ok ? (
              <span className="test-ok">
                <strong>Connected</strong> in {formatLatency(test.result.latency_ms)} ·{" "}
                {models.length === 0 ? "it lists no models" : `${models.length} models: ${models.slice(0, 12).map(modelName).join(", ")}${models.length > 12 ? "…" : ""}`}
              </span>
            ) : test.result ? (
              <ErrorNotice
                error={
                  new ApiError({
                    status: 0,
                    code: test.result.error?.code ?? "test_failed",
                    message: `${test.result.error?.message ?? "the test failed"} (after ${formatLatency(test.result.latency_ms)})`,
                  })
                }
              />
            ) : null}
          </td>
        </tr>
      )}
      {keyOpen && hosted && (
        <tr className="detail-row">
          <td colSpan={6}>
            <ProviderKeyForm name={p.name} onDone={onKey} />
          </td>
        </tr>
      )}
    </>
  );
}

function modelName(m: unknown): string {
  if (typeof m === "string") return m;
  if (m && typeof m === "object" && "id" in m) return String((m as { id: unknown }).id);
  return JSON.stringify(m);
}

/** A hosted provider's key: typed into a password field, sent, and dropped from the page at once. */
function ProviderKeyForm({ name, onDone }: { name: string; onDone: () => void }) {
  const { client } = useApp();
  const [value, setValue] = useState("");
  const [busy, run] = useBusy();
  const [error, setError] = useState<ApiError | null>(null);
  const [stored, setStored] = useState<string | null>(null);
  const submit = async () => {
    const key = value;
    // The field is emptied before the request goes out: the key stays in no state or DOM.
    setValue("");
    if (!key.trim()) return;
    setStored(null);
    await run(async () => {
      const r = await setProviderKey(client, name, key);
      setStored(`Stored in the OS keychain; used ${r.applies ?? "from the next start"}.`);
    }, setError);
  };
  return (
    <form
      className="key-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
      autoComplete="off"
      data-testid="provider-key-form"
    >
      <label className="inline-label">
        <span>API key for {name}</span>
        <input
          type="password"
          autoComplete="new-password"
          spellCheck={false}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          data-testid="provider-key-input"
        />
      </label>
      <button className="primary small" type="submit" disabled={busy || !value.trim()} data-testid="provider-key-save">
        {busy ? "Storing…" : "Store key"}
      </button>
      <button className="small" type="button" onClick={onDone}>
        Close
      </button>
      {stored && (
        <span className="test-ok" data-testid="provider-key-stored">
          {stored}
        </span>
      )}
      {error && (
        <div className="key-form-error">
          {error.code === "keychain_unavailable" && (
            <p className="muted small-text">No OS keychain answers on this machine, so the key was not stored. Set it in the provider's environment variable instead.</p>
          )}
          <ErrorNotice error={error} onDismiss={() => setError(null)} />
        </div>
      )}
    </form>
  );
}

// ---------------------------------------------------------------------------------------
// Local models

function ModelsTab() {
  const { client, reloadModels } = useApp();
  const read = useCallback(() => listLocalModels(client), [client]);
  const {
    data: { models, models_dir: dir, local_providers: runtimes, pool },
    loaded,
    error,
    setError,
    reload: load,
  } = useLoad<LocalModels>(read, NO_LOCAL_MODELS);
  // A model loads on its first request (from the Chat, say) and unloads when idle or when
  // another needs its room: read the pool again while the tab is open.
  usePoll(load, POOL_POLL_MS);
  const [pulls, setPulls] = useState<Record<string, PullState>>({});
  const [removing, setRemoving] = useState<string | null>(null);
  const [busy, run] = useBusy();
  const [importPath, setImportPath] = useState("");
  const [importId, setImportId] = useState("");
  const [imported, setImported] = useState<ImportedModel | null>(null);
  const [importError, setImportError] = useState<ApiError | null>(null);
  const controllers = useRef<Record<string, AbortController>>({});

  useEffect(() => {
    const open = controllers.current;
    return () => {
      for (const ac of Object.values(open)) ac.abort();
    };
  }, [load]);

  const pull = async (m: LocalModel) => {
    const id = bareModelId(m);
    const ac = new AbortController();
    controllers.current[m.id] = ac;
    let s = startPull();
    setPulls((p) => ({ ...p, [m.id]: s }));
    try {
      for await (const ev of pullModel(client, id, ac.signal)) {
        s = applyPullEvent(s, ev);
        setPulls((p) => ({ ...p, [m.id]: s }));
      }
      s = endPull(s);
    } catch (e) {
      if (isAbortError(e)) s = failPull(s, "stopped", "stopped: the server cancels the download and deletes its partial file");
      else {
        const err = asApiError(e);
        s = failPull(s, err.code, err.message);
      }
    }
    delete controllers.current[m.id];
    setPulls((p) => ({ ...p, [m.id]: s }));
    if (s.status === "done") {
      await load();
      reloadModels();
    }
  };

  const remove = (m: LocalModel) =>
    run(async () => {
      await removeModel(client, bareModelId(m));
      setRemoving(null);
      setPulls((p) => {
        const n = { ...p };
        delete n[m.id];
        return n;
      });
      await load();
      reloadModels();
    }, setError);

  // The policy's `local` provider serves every installed model by name.
  const servesInstalled = runtimes.some((r) => r.provider === "local");
  const [used, setUsed] = useState<string | null>(null);
  const use = (m: LocalModel) =>
    run(async () => {
      const r = await setRoutePrimary(client, requestModelName(m));
      setUsed(`The ${r.task} route now starts with ${r.model}.`);
      reloadModels();
    }, setError);

  const doImport = async () => {
    setImported(null);
    await run(async () => {
      setImported(await importModel(client, { path: importPath.trim(), ...(importId.trim() ? { id: importId.trim() } : {}) }));
      setImportPath("");
      setImportId("");
      await load();
      reloadModels();
    }, setImportError);
  };

  return (
    <section className="admin-section" data-testid="models-tab">
      <div className="section-bar">
        <p className="muted">
          GGUF models run on this machine with candle. Files live in <code data-testid="models-dir">{dir ?? "—"}</code>, shared by every data dir.
        </p>
        {runtimes.map((r) => (
          <p key={r.provider} className="muted small-text" data-testid="local-runtime">
            {describeRuntime(r)}. Set <code>threads</code> under <code>[providers.{r.provider}]</code> in the policy to change it.
          </p>
        ))}
      </div>
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
      {used && (
        <div className="test-ok" data-testid="use-done">
          {used}
        </div>
      )}
      <ModelSearchPanel
        onInstalled={async () => {
          await load();
          reloadModels();
        }}
      />
      {/* Before the first read the pool is empty and has no budget: a line about it would be wrong. */}
      {loaded && <PoolPanel pool={pool} listed={models.map(requestModelName)} />}
      <div className="table-wrap">
        <table className="data-table" data-testid="model-table">
          <thead>
            <tr>
              <th>Model</th>
              <th>Installed</th>
              <th>In memory</th>
              <th className="num">Size</th>
              <th>Licence</th>
              <th className="num">Context</th>
              <th>Good for</th>
              <th>Path</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {models.map((m) => {
              const s = pulls[m.id];
              const running = s?.status === "running";
              return (
                <ModelRows
                  key={m.id}
                  m={m}
                  runtime={runtimeOf(pool.loaded, requestModelName(m))}
                  idleUnloadS={pool.idle_unload_s}
                  pull={s}
                  running={running}
                  busy={busy}
                  removing={removing === m.id}
                  onPull={() => void pull(m)}
                  onStop={() => controllers.current[m.id]?.abort()}
                  onRemove={() => setRemoving(m.id)}
                  onConfirmRemove={() => void remove(m)}
                  onCancelRemove={() => setRemoving(null)}
                  onUse={servesInstalled ? () => void use(m) : undefined}
                />
              );
            })}
            {loaded && models.length === 0 && <EmptyRow cols={9}>The catalog is empty.</EmptyRow>}
          </tbody>
        </table>
      </div>

      <form
        className="editor-panel"
        onSubmit={(e) => {
          e.preventDefault();
          void doImport();
        }}
        data-testid="import-form"
      >
        <h3>Import a GGUF file</h3>
        <p className="muted small-text">
          A file already on the server's disk is checked (Hearth must be able to run it) and copied into the models folder; nothing is uploaded from
          this browser.
        </p>
        <div className="form-grid cols-4">
          <Field label="Path on the server" wide>
            <input className="mono" value={importPath} onChange={(e) => setImportPath(e.target.value)} placeholder="/models/my-model.Q4_K_M.gguf" data-testid="import-path" />
          </Field>
          <Field label="Id (optional)" hint="default: from the file name">
            <input className="mono" value={importId} onChange={(e) => setImportId(e.target.value)} data-testid="import-id" />
          </Field>
          <div className="form-actions end">
            <button className="primary" type="submit" disabled={busy || !importPath.trim()} data-testid="import-model">
              Import
            </button>
          </div>
        </div>
        {imported && (
          <div className="import-done" data-testid="import-done">
            <div className="test-ok">
              Imported <strong className="mono">{imported.id}</strong> to <code>{imported.path}</code>.
            </div>
            {imported.usable && imported.model && (
              <span className="field-hint" data-testid="import-model-name">
                Requests and the model pickers name it <code>{imported.model}</code>.
              </span>
            )}
            {imported.use && (
              <>
                <span className="field-hint">To use it, add the on-device provider to the policy (it serves every installed model):</span>
                <pre className="template" data-testid="import-use">
                  {imported.use}
                </pre>
              </>
            )}
          </div>
        )}
        {importError && <ErrorNotice error={importError} onDismiss={() => setImportError(null)} />}
      </form>
    </section>
  );
}

/**
 * Looks for GGUF files in the catalog and on the hub (offline, in the catalog only), and
 * downloads one: a catalog entry by its id, any other file as `local/<its file name>`.
 */
function ModelSearchPanel({ onInstalled }: { onInstalled: () => Promise<void> }) {
  const { client } = useApp();
  const [text, setText] = useState("");
  const [found, setFound] = useState<ModelSearch | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, run] = useBusy();
  const [pulls, setPulls] = useState<Record<string, PullState>>({});
  const controllers = useRef<Record<string, AbortController>>({});
  const hits = found ? [...found.catalog, ...found.files] : [];

  useEffect(() => {
    const open = controllers.current;
    return () => {
      for (const ac of Object.values(open)) ac.abort();
    };
  }, []);

  const download = async (h: SearchHit) => {
    const key = hitKey(h);
    const ac = new AbortController();
    controllers.current[key] = ac;
    const s = await followPull(pullWith(client, pullRequestFor(h), ac.signal), (state) => setPulls((p) => ({ ...p, [key]: state })));
    delete controllers.current[key];
    if (s.status === "done") await onInstalled();
  };

  return (
    <form
      className="editor-panel"
      onSubmit={(e) => {
        e.preventDefault();
        setPulls(keepRunning);
        void run(async () => setFound(await searchModels(client, text.trim())), setError);
      }}
      data-testid="model-search"
    >
      <div className="form-grid cols-4">
        <Field label="Find GGUF models" hint="the catalog, then the Hugging Face hub" wide>
          <input value={text} onChange={(e) => setText(e.target.value)} maxLength={100} placeholder="qwen 1.5b" data-testid="model-search-text" />
        </Field>
        <div className="form-actions end">
          <button type="submit" disabled={busy || !text.trim()} data-testid="model-search-go">
            Search
          </button>
        </div>
      </div>
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
      {found && !found.online && (
        <p className="muted small-text" data-testid="model-search-offline">
          The hub cannot be reached ({found.reason}); showing the catalog's matches only.
        </p>
      )}
      {found && (
        <div className="table-wrap">
          <table className="data-table" data-testid="model-search-results">
            <thead>
              <tr>
                <th>From</th>
                <th>Repository</th>
                <th>File</th>
                <th className="num">Size</th>
                <th>Quant</th>
                <th>Can run</th>
                <th title={found.fits_rule}>Fits</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {hits.map((h) => {
                const key = hitKey(h);
                const s = pulls[key];
                const blocked = downloadBlocked(h);
                return (
                  <Fragment key={key}>
                    <tr data-testid="model-search-hit">
                      <td className="mono small-text">{h.catalog_id ? `catalog: local/${h.catalog_id}` : "hub"}</td>
                      <td className="mono small-text">{h.repo}</td>
                      <td className="mono small-text">{h.file}</td>
                      <td className="num nowrap">{formatBytes(h.size_bytes)}</td>
                      <td className="mono">{h.quant}</td>
                      <td>
                        <YesNo yes={h.runs} />
                      </td>
                      <td>{h.fits === null ? "—" : <YesNo yes={h.fits} />}</td>
                      <td className="actions">
                        {s?.status === "running" ? (
                          <button type="button" className="small danger" onClick={() => controllers.current[key]?.abort()} data-testid="stop-hit-pull">
                            <Icon name="stop" size={12} /> Stop
                          </button>
                        ) : s?.status === "done" ? (
                          <span className="muted small-text nowrap" title={localModelFor(h)} data-testid="hit-installed">
                            Installed
                          </span>
                        ) : (
                          <button
                            type="button"
                            className="small primary"
                            onClick={() => void download(h)}
                            disabled={blocked !== null}
                            title={blocked ?? `Downloads it as ${localModelFor(h)}`}
                            data-testid="pull-hit"
                          >
                            Download
                          </button>
                        )}
                      </td>
                    </tr>
                    {s && (
                      <tr className="detail-row">
                        <td colSpan={8}>
                          <PullProgress s={s} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
              {hits.length === 0 && <EmptyRow cols={8}>Nothing matches.</EmptyRow>}
            </tbody>
          </table>
          {found.skipped.length > 0 && (
            <p className="muted small-text">The hub did not list the files of {found.skipped.map((s) => s.repo).join(", ")}.</p>
          )}
        </div>
      )}
    </form>
  );
}

/** The models in memory: how much of the budget they hold, and when an idle one goes. */
function PoolPanel({ pool, listed }: { pool: ModelPool; listed: string[] }) {
  const use = budgetUse(pool);
  const others = unlisted(pool.loaded, listed);
  return (
    <div className="editor-panel pool-panel" data-testid="model-pool">
      <div className="pool-head">
        <h3>In memory</h3>
        <span data-testid="pool-budget" data-held-bytes={use.heldBytes} data-loading-bytes={use.loadingBytes}>
          {budgetText(use)}
        </span>
      </div>
      {use.share !== null && <MeterBar share={use.share} tone={use.share > 0.9 ? "warn" : "accent"} label="Share of the memory budget in use" />}
      <p className="muted small-text" data-testid="pool-idle" data-idle-unload-s={pool.idle_unload_s ?? ""}>
        Models load on their first request. {idleRuleText(pool.idle_unload_s)} Set <code>memory_budget_mb</code> and <code>idle_unload_s</code> under{" "}
        <code>[local]</code> in the policy to change them.
      </p>
      {others.length > 0 && (
        <ul className="pool-others">
          {others.map((o) => {
            const r = runtimeOf(pool.loaded, o.model);
            return (
              <li key={o.model} data-testid="pool-other" data-model={o.model}>
                <span className="mono">{o.model}</span> <RuntimeState r={r} idleUnloadS={pool.idle_unload_s} />
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

/** Not loaded, loading (with a spinner) or loaded with the memory it holds and what it does. */
function RuntimeState({ r, idleUnloadS }: { r: ModelRuntime; idleUnloadS: number | null }) {
  const detail = runtimeDetail(r, idleUnloadS);
  return (
    <span className={`runtime runtime-${r.state}`}>
      <span className="runtime-main">
        {r.state === "loading" && <span className="spinner" aria-hidden />}
        <span data-testid="runtime-state">{runtimeText(r)}</span>
      </span>
      {detail && (
        <span className="muted small-text" data-testid="runtime-detail">
          {detail}
        </span>
      )}
    </span>
  );
}

function ModelRows({
  m,
  runtime,
  idleUnloadS,
  pull,
  running,
  busy,
  removing,
  onPull,
  onStop,
  onRemove,
  onConfirmRemove,
  onCancelRemove,
  onUse,
}: {
  m: LocalModel;
  runtime: ModelRuntime;
  idleUnloadS: number | null;
  pull: PullState | undefined;
  running: boolean;
  busy: boolean;
  removing: boolean;
  onPull: () => void;
  onStop: () => void;
  onRemove: () => void;
  onConfirmRemove: () => void;
  onCancelRemove: () => void;
  /** Makes it the chat route's primary; absent when the policy has no `local` provider. */
  onUse?: () => void;
}) {
  const c = m.catalog;
  const size = c?.size_bytes ?? m.size_bytes ?? null;
  return (
    <>
      <tr data-testid="model-row" data-model={m.id}>
        <td className="mono nowrap">
          {m.id}
          {c?.family && <div className="muted small-text">{c.family}</div>}
        </td>
        <td data-testid="model-installed">
          <YesNo yes={m.installed} />
        </td>
        <td data-testid="model-runtime" data-state={runtime.state}>
          {m.installed ? <RuntimeState r={runtime} idleUnloadS={idleUnloadS} /> : <span className="muted">—</span>}
          {m.installed && runtime.state === "not_loaded" && m.memory && (
            <div className="muted small-text">needs {formatBytes(m.memory.total_bytes)}</div>
          )}
        </td>
        <td className="num nowrap">{formatBytes(size)}</td>
        <td className="nowrap">{c?.licence ?? "—"}</td>
        <td className="num">{c?.context_length ? formatTokens(c.context_length) : "—"}</td>
        <td className="small-text">{c?.recommended_use ?? "—"}</td>
        <td className="mono small-text path-cell" title={m.path ?? ""}>
          {m.installed ? m.path : <span className="muted">not on disk</span>}
        </td>
        <td className="actions">
          {running ? (
            <button className="small danger" onClick={onStop} data-testid="stop-pull">
              <Icon name="stop" size={12} /> Stop
            </button>
          ) : m.installed ? (
            <>
              {onUse && (
                <button className="small" onClick={onUse} disabled={busy} data-testid="use-model">
                  Use for chat
                </button>
              )}
              <button className="small" onClick={onRemove} disabled={busy} data-testid="remove-model">
                <Icon name="trash" size={14} /> Remove
              </button>
            </>
          ) : (
            <button className="small primary" onClick={onPull} data-testid="pull-model">
              Download
            </button>
          )}
        </td>
      </tr>
      {removing && (
        <tr className="detail-row">
          <td colSpan={9}>
            <Confirm action={`Remove ${m.id}`} danger busy={busy} onConfirm={onConfirmRemove} onCancel={onCancelRemove}>
              Deletes the file{size !== null ? ` (${formatBytes(size)})` : ""} from disk; routes that use this model fail over or stop until it is downloaded again.
            </Confirm>
          </td>
        </tr>
      )}
      {pull && (
        <tr className="detail-row">
          <td colSpan={9}>
            <PullProgress s={pull} />
          </td>
        </tr>
      )}
    </>
  );
}

function PullProgress({ s }: { s: PullState }) {
  const pct = s.percent;
  return (
    <div className={`pull pull-${s.status}`} data-testid="pull-progress" data-status={s.status}>
      <div className="pull-head">
        <div
          className={`progress ${pct === null && s.status === "running" ? "indeterminate" : ""}`}
          role="progressbar"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={pct ?? undefined}
        >
          <div className="progress-fill" style={{ width: `${pct ?? (s.status === "running" ? 30 : 0)}%` }} />
        </div>
        <span className="pull-pct" data-testid="pull-percent">
          {pct !== null ? `${Math.round(pct)}%` : s.status === "running" ? "…" : ""}
        </span>
      </div>
      <div className="pull-stage small-text" data-testid="pull-stage">
        {s.status === "done" && s.done
          ? `Installed ${s.done.id || ""} ${routeLabel(s.done.route)}${s.done.path ? ` at ${s.done.path}` : ""}.`
          : s.stage ?? (s.status === "running" ? "Starting…" : "")}
      </div>
      {s.error && <ErrorNotice error={new ApiError({ status: 0, code: s.error.code, message: s.error.message })} />}
      {s.lines.length > 0 && (
        <details className="pull-log">
          <summary className="small-text muted">{s.lines.length} progress lines</summary>
          <pre data-testid="pull-log">{s.lines.join("\n")}</pre>
        </details>
      )}
    </div>
  );
}
