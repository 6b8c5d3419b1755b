import { useCallback, useEffect, useMemo, useState } from "react";
import {
  createPromptVersion,
  listPrompts,
  promotePrompt,
  renderPrompt,
  rollbackPrompt,
  type PromptVersion,
  type RolloutStatus,
} from "../api/admin";
import { asApiError, concreteModels, localityOf, type ApiError } from "../api/client";
import { useApp, useShortcuts } from "../app/context";
import { AdminOnly, needsAdmin } from "../components/AdminNotice";
import { AnswerColumn } from "../components/AnswerColumn";
import { AnswerTags } from "../components/AnswerTags";
import { Confirm } from "../components/Confirm";
import { ErrorNotice } from "../components/ErrorNotice";
import { Field } from "../components/Field";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { ModelChip, StopButton } from "../components/RunControls";
import { Tabs } from "../components/Tabs";
import { useAnswerColumns } from "../components/useAnswerColumns";
import { useBusy } from "../components/useAsync";
import { formatWhen } from "../format";
import { keysFor } from "../shortcuts";
import { keepSelection, toggleModel } from "../state/compare";
import { diffLines, diffStats } from "../state/diff";
import { hasErrors, parseNumber, type FormErrors } from "../state/forms";
import {
  canaryOf,
  formFrom,
  formatShare,
  groupPrompts,
  promptBody,
  promptMetadata,
  stableOf,
  variableChange,
  type VariableChange,
  templateVariables,
  variablesFor,
  type PromptForm,
  type PromptGroup,
} from "../state/prompts";
import { toggled } from "../state/sets";

type Tab = "versions" | "diff" | "new" | "playground";
const TABS: { id: Tab; label: string }[] = [
  { id: "versions", label: "Versions" },
  { id: "diff", label: "Diff" },
  { id: "new", label: "New version" },
  { id: "playground", label: "Playground" },
];

/** At most this many models in one playground run. */
const MAX_RUN_MODELS = 3;

export function PromptsView() {
  const { client, session } = useApp();
  const workspace = client.workspace ?? session.workspace;
  const [all, setAll] = useState<PromptVersion[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const [creatingPrompt, setCreatingPrompt] = useState(false);
  const [tab, setTab] = useState<Tab>("versions");
  const [notice, setNotice] = useState<string | null>(null);

  const groups = useMemo(() => groupPrompts(all), [all]);
  const group = groups.find((g) => g.key === selectedKey) ?? null;

  const load = useCallback(async () => {
    try {
      const list = await listPrompts(client, workspace);
      setAll(list);
      setLoadError(null);
      setLoaded(true);
      return list;
    } catch (e) {
      setLoadError(asApiError(e));
      setLoaded(true);
      return null;
    }
  }, [client, workspace]);

  useEffect(() => {
    void load().then((list) => {
      if (list && list.length > 0) setSelectedKey((k) => k ?? groupPrompts(list)[0]!.key);
    });
  }, [load]);

  if (loadError && needsAdmin(loadError)) return <AdminOnly what="The prompt registry" error={loadError} />;

  const select = (key: string) => {
    setSelectedKey(key);
    setCreatingPrompt(false);
    setNotice(null);
  };

  const created = async (p: PromptVersion) => {
    await load();
    setSelectedKey(`${p.scope}/${p.prompt_id}`);
    setCreatingPrompt(false);
    setTab("versions");
    setNotice(`Created ${p.prompt_id} ${p.version} (${p.status}).`);
  };

  return (
    <div className="prompts-view">
      <aside className="side-list" aria-label="Prompts">
        <div className="side-list-head">
          <button
            className="primary wide"
            onClick={() => {
              setCreatingPrompt(true);
              setNotice(null);
            }}
            data-testid="new-prompt"
          >
            New prompt
          </button>
          <h3>Prompts</h3>
        </div>
        <ul className="side-items" data-testid="prompt-list">
          {groups.map((g) => {
            const stable = stableOf(g);
            const canary = canaryOf(g);
            return (
              <li key={g.key} className={g.key === selectedKey && !creatingPrompt ? "active" : ""} data-testid="prompt-item" data-prompt={g.prompt_id}>
                <button className="side-item-main" onClick={() => select(g.key)} title={g.prompt_id}>
                  <span className="side-item-title">{g.prompt_id}</span>
                  <span className="side-item-sub">
                    {g.versions.length} {g.versions.length === 1 ? "version" : "versions"}
                    {stable ? ` · stable ${stable.version}` : " · no stable"}
                    {canary ? ` · canary ${canary.version}` : ""}
                    {g.scope ? ` · ${g.scope}` : ""}
                  </span>
                </button>
              </li>
            );
          })}
          {loaded && groups.length === 0 && !loadError && <li className="side-empty">No prompts yet.</li>}
        </ul>
      </aside>

      <section className="prompts-main">
        {loadError && <ErrorNotice error={loadError} onDismiss={() => setLoadError(null)} />}
        {notice && (
          <Notice testId="prompt-notice" onDismiss={() => setNotice(null)}>
            {notice}
          </Notice>
        )}
        {creatingPrompt ? (
          <div className="pane">
            <h2>New prompt</h2>
            <NewVersionForm key="new-prompt" base={undefined} siblings={[]} onCreated={(p) => void created(p)} freshPrompt />
          </div>
        ) : group ? (
          <PromptDetail
            key={group.key}
            group={group}
            tab={tab}
            onTab={(t) => {
              setTab(t);
              setNotice(null);
            }}
            onChanged={async (msg) => {
              await load();
              setNotice(msg);
            }}
            onCreated={(p) => void created(p)}
          />
        ) : (
          loaded &&
          !loadError && (
            <div className="empty-state">
              <h2>Prompt registry</h2>
              <p>Versioned system prompts with their rollout (stable, canary, deprecated), owner, compatible models and eval scores.</p>
            </div>
          )
        )}
      </section>
    </div>
  );
}

function StatusPill({ v }: { v: PromptVersion }) {
  return (
    <span className={`rollout rollout-${v.status}`} data-testid="rollout-status">
      {v.status}
      {v.status === "canary" ? ` ${formatShare(v.canary_share)}` : ""}
    </span>
  );
}

function PromptDetail({
  group,
  tab,
  onTab,
  onChanged,
  onCreated,
}: {
  group: PromptGroup;
  tab: Tab;
  onTab: (t: Tab) => void;
  onChanged: (notice: string) => Promise<void>;
  onCreated: (p: PromptVersion) => void;
}) {
  const stable = stableOf(group);
  const canary = canaryOf(group);
  return (
    <div className="prompt-detail" data-testid="prompt-detail">
      <header className="pane-head">
        <div>
          <h2 className="mono">{group.prompt_id}</h2>
          <div className="muted small-text">
            {group.scope ? `workspace ${group.scope}` : "install-wide"} · {group.versions.length}{" "}
            {group.versions.length === 1 ? "version" : "versions"} · stable {stable ? <strong>{stable.version}</strong> : "none"}
            {canary && (
              <>
                {" "}
                · canary <strong>{canary.version}</strong> for {formatShare(canary.canary_share)} of users
              </>
            )}
          </div>
        </div>
        <Tabs tabs={TABS} active={tab} onSelect={onTab} testIdPrefix="prompt-tab-" />
      </header>
      {tab === "versions" && <VersionList group={group} onChanged={onChanged} />}
      {tab === "diff" && <VersionDiff group={group} />}
      {tab === "new" && (
        <div className="pane">
          <NewVersionForm base={group.versions[0]} siblings={group.versions.map((v) => v.version)} versions={group.versions} onCreated={onCreated} />
        </div>
      )}
      {tab === "playground" && <Playground group={group} />}
    </div>
  );
}

// ---------------------------------------------------------------------------------------
// Versions, promote and rollback

type PendingChange =
  | { kind: "promote"; version: string; status: Exclude<RolloutStatus, "draft">; share: number; force?: boolean }
  | { kind: "rollback"; version: string };

/** The review's warning when a version's variables are not what callers send, with the override. */
function BreakingVariables({
  change,
  version,
  acknowledged,
  onAcknowledge,
}: {
  change: VariableChange;
  version: string;
  acknowledged: boolean;
  onAcknowledge: (force: boolean) => void;
}) {
  const names = (list: string[]) => list.map((n) => `\`${n}\``).join(", ");
  return (
    <div className="notice warn-notice" role="alert" data-testid="variables-warning">
      <p>
        Callers send the variables of {change.stable} (stable).{" "}
        {change.missing.length > 0 && <>{version} needs {names(change.missing)}, which they do not send. </>}
        {change.unused.length > 0 && <>{version} does not take {names(change.unused)}, which they send. </>}
        Their requests routed to {version} will fail until they change.
      </p>
      <label>
        <input type="checkbox" checked={acknowledged} onChange={(e) => onAcknowledge(e.target.checked)} data-testid="force-promote" /> Go ahead:
        I will update the callers
      </label>
    </div>
  );
}

function consequence(group: PromptGroup, c: PendingChange): string {
  const stable = stableOf(group);
  const canary = canaryOf(group);
  if (c.kind === "rollback") {
    return `${c.version} becomes stable again for everyone${stable && stable.version !== c.version ? `; ${stable.version} (stable now) is deprecated` : ""}.`;
  }
  switch (c.status) {
    case "stable":
      return `${c.version} becomes stable for everyone${stable && stable.version !== c.version ? `; ${stable.version} (stable now) is deprecated` : ""}.`;
    case "canary":
      return `${c.version} serves ${formatShare(c.share)} of users (each user sticks to one version)${
        canary && canary.version !== c.version ? `; ${canary.version} (canary now) goes back to draft` : ""
      }.`;
    case "deprecated":
      return `${c.version} is retired: it serves only requests that name it.${
        stable?.version === c.version ? " No version will be stable: requests that name none get unknown_prompt_version." : ""
      }`;
  }
}

function VersionList({ group, onChanged }: { group: PromptGroup; onChanged: (notice: string) => Promise<void> }) {
  const { client } = useApp();
  const [promoting, setPromoting] = useState<{ version: string; status: Exclude<RolloutStatus, "draft">; share: string } | null>(null);
  const [pending, setPending] = useState<PendingChange | null>(null);
  const [busy, run] = useBusy();
  const [error, setError] = useState<ApiError | null>(null);
  const [shown, setShown] = useState<Set<string>>(() => new Set());
  const scope = group.scope ? { workspace: group.scope } : {};
  const breaking =
    pending?.kind === "promote" && pending.status !== "deprecated" ? variableChange(group, pending.version) : null;

  const shareProblem = (() => {
    if (!promoting || promoting.status !== "canary") return null;
    const p = parseNumber(promoting.share);
    if (p.kind !== "ok") return p.kind === "empty" ? "required" : p.message;
    return null;
  })();

  const apply = (c: PendingChange) =>
    run(async () => {
      const v =
        c.kind === "promote"
          ? await promotePrompt(client, group.prompt_id, {
              version: c.version,
              status: c.status,
              ...(c.status === "canary" ? { canary_share: c.share } : {}),
              ...(c.force ? { force: true } : {}),
              ...scope,
            })
          : await rollbackPrompt(client, group.prompt_id, { version: c.version, ...scope });
      setPending(null);
      setPromoting(null);
      await onChanged(
        c.kind === "rollback"
          ? `Rolled back: ${v.version} is stable.`
          : `${v.version} is now ${v.status}${v.status === "canary" ? ` for ${formatShare(v.canary_share)} of users` : ""}.`,
      );
    }, setError);

  return (
    <div className="pane version-list" data-testid="version-list">
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
      {group.versions.map((v) => {
        const open = shown.has(v.version);
        const evalEntries = Object.entries(v.eval ?? {});
        return (
          <article key={v.version} className={`version-card status-${v.status}`} data-testid="version-card" data-version={v.version}>
            <div className="version-head">
              <span className="version-name mono">{v.version}</span>
              <StatusPill v={v} />
              <span className="muted small-text">created {formatWhen(v.created_at_ms)}</span>
              <span className="grow" />
              {v.status === "deprecated" && (
                <button className="small" onClick={() => setPending({ kind: "rollback", version: v.version })} data-testid="rollback" disabled={busy}>
                  <Icon name="rerun" size={14} /> Roll back to {v.version}
                </button>
              )}
              <button
                className="small"
                onClick={() => {
                  setPending(null);
                  setPromoting(
                    promoting?.version === v.version
                      ? null
                      : { version: v.version, status: v.status === "stable" ? "deprecated" : "stable", share: String(Math.round((v.canary_share || 0.1) * 100)) },
                  );
                }}
                data-testid="promote"
                disabled={busy}
              >
                Change rollout…
              </button>
            </div>
            <dl className="facts">
              <div>
                <dt>Owner</dt>
                <dd>{v.owner || "—"}</dd>
              </div>
              <div>
                <dt>Schema</dt>
                <dd className="mono">{v.schema_version ?? "—"}</dd>
              </div>
              <div>
                <dt>Answer</dt>
                <dd>{v.response_format === "json_object" ? "JSON object" : "text"}</dd>
              </div>
              <div>
                <dt>Variables</dt>
                <dd className="mono">{v.variables.length > 0 ? v.variables.join(", ") : "—"}</dd>
              </div>
              <div className="wide">
                <dt>Compatible models</dt>
                <dd>
                  {v.compatible_models.length > 0
                    ? v.compatible_models.map((m) => (
                        <span key={m} className="tag tag-model">
                          {m}
                        </span>
                      ))
                    : "any"}
                </dd>
              </div>
              <div className="wide">
                <dt>Eval</dt>
                <dd data-testid="version-eval">
                  {evalEntries.length > 0
                    ? evalEntries.map(([k, val]) => (
                        <span key={k} className="tag tag-metric">
                          {k} {typeof val === "number" ? val : JSON.stringify(val)}
                        </span>
                      ))
                    : "no scores"}
                </dd>
              </div>
              <div className="wide">
                <dt>Changelog</dt>
                <dd>{v.changelog || <span className="muted">—</span>}</dd>
              </div>
            </dl>
            <button
              className="link-button"
              onClick={() => setShown((s) => toggled(s, v.version))}
              aria-expanded={open}
            >
              {open ? "Hide template" : "Show template"}
            </button>
            {open && <pre className="template">{v.template}</pre>}

            {promoting?.version === v.version && !pending && (
              <form
                className="inline-form"
                onSubmit={(e) => {
                  e.preventDefault();
                  const parsed = parseNumber(promoting.share);
                  if (shareProblem || (promoting.status === "canary" && parsed.kind !== "ok")) return;
                  const share = promoting.status === "canary" && parsed.kind === "ok" ? parsed.value / 100 : 0;
                  setPending({ kind: "promote", version: v.version, status: promoting.status, share });
                }}
                data-testid="promote-form"
              >
                <label>
                  <span>New status</span>
                  <select
                    value={promoting.status}
                    onChange={(e) => setPromoting({ ...promoting, status: e.target.value as Exclude<RolloutStatus, "draft"> })}
                    data-testid="promote-status"
                  >
                    <option value="stable">stable: everyone</option>
                    <option value="canary">canary: a share of users</option>
                    <option value="deprecated">deprecated: retired</option>
                  </select>
                </label>
                {promoting.status === "canary" && (
                  <label>
                    <span>Share of users (%)</span>
                    <input
                      className="num"
                      inputMode="decimal"
                      value={promoting.share}
                      onChange={(e) => setPromoting({ ...promoting, share: e.target.value })}
                      data-testid="canary-share"
                      aria-invalid={shareProblem !== null}
                    />
                    {shareProblem && <span className="field-error">{shareProblem}</span>}
                  </label>
                )}
                <button className="primary small" type="submit" disabled={shareProblem !== null}>
                  Review
                </button>
                <button className="small" type="button" onClick={() => setPromoting(null)}>
                  Cancel
                </button>
              </form>
            )}
            {pending?.version === v.version && (
              <Confirm
                action={pending.kind === "rollback" ? `Roll back to ${v.version}` : `Make ${v.version} ${pending.status}`}
                onConfirm={() => void apply(pending)}
                onCancel={() => setPending(null)}
                busy={busy}
                danger={(pending.kind === "promote" && pending.status === "deprecated") || breaking !== null}
                blocked={breaking !== null && !(pending.kind === "promote" && pending.force)}
              >
                {consequence(group, pending)}
                {breaking && pending.kind === "promote" && (
                  <BreakingVariables
                    change={breaking}
                    version={v.version}
                    acknowledged={pending.force === true}
                    onAcknowledge={(force) => setPending({ ...pending, force })}
                  />
                )}
              </Confirm>
            )}
          </article>
        );
      })}
    </div>
  );
}

// ---------------------------------------------------------------------------------------
// Diff

/** One `<option>` a version, with its rollout status. */
function VersionOptions({ versions }: { versions: PromptVersion[] }) {
  return (
    <>
      {versions.map((v) => (
        <option key={v.version} value={v.version}>
          {v.version} ({v.status})
        </option>
      ))}
    </>
  );
}

function VersionDiff({ group }: { group: PromptGroup }) {
  const versions = group.versions;
  const [oldV, setOldV] = useState(() => (versions[1] ?? versions[0])?.version ?? "");
  const [newV, setNewV] = useState(() => versions[0]?.version ?? "");
  const a = versions.find((v) => v.version === oldV);
  const b = versions.find((v) => v.version === newV);
  const lines = useMemo(() => (a && b ? diffLines(a.template, b.template) : []), [a, b]);
  const stats = diffStats(lines);

  if (versions.length < 2) {
    return (
      <div className="pane">
        <p className="muted">Only one version so far: create a second one (New version) to compare them.</p>
      </div>
    );
  }
  const fields: { label: string; of: (v: PromptVersion) => string }[] = [
    { label: "Variables", of: (v) => v.variables.join(", ") || "—" },
    { label: "Owner", of: (v) => v.owner || "—" },
    { label: "Compatible models", of: (v) => v.compatible_models.join(", ") || "any" },
    { label: "Schema", of: (v) => v.schema_version ?? "—" },
    { label: "Answer", of: (v) => String(v.response_format) },
    { label: "Eval", of: (v) => (Object.keys(v.eval ?? {}).length ? JSON.stringify(v.eval) : "—") },
  ];
  const changed = a && b ? fields.filter((f) => f.of(a) !== f.of(b)) : [];
  return (
    <div className="pane" data-testid="diff">
      <div className="diff-pick">
        <label>
          <span>From</span>
          <select value={oldV} onChange={(e) => setOldV(e.target.value)} data-testid="diff-old">
            <VersionOptions versions={versions} />
          </select>
        </label>
        <span className="muted">→</span>
        <label>
          <span>To</span>
          <select value={newV} onChange={(e) => setNewV(e.target.value)} data-testid="diff-new">
            <VersionOptions versions={versions} />
          </select>
        </label>
        <span className="diff-stats" data-testid="diff-stats">
          <span className="diff-add-count">+{stats.added}</span> <span className="diff-del-count">−{stats.removed}</span> lines
        </span>
      </div>
      {oldV === newV ? (
        <p className="muted">Pick two different versions.</p>
      ) : (
        <>
          <table className="diff-table" data-testid="diff-table">
            <tbody>
              {lines.map((l, i) => (
                <tr key={i} className={`diff-${l.kind}`} data-kind={l.kind}>
                  <td className="ln">{l.oldLine ?? ""}</td>
                  <td className="ln">{l.newLine ?? ""}</td>
                  <td className="mark">{l.kind === "add" ? "+" : l.kind === "del" ? "−" : ""}</td>
                  <td className="code">{l.text || " "}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {changed.length > 0 && (
            <table className="data-table meta-diff">
              <thead>
                <tr>
                  <th>Also changed</th>
                  <th>{oldV}</th>
                  <th>{newV}</th>
                </tr>
              </thead>
              <tbody>
                {changed.map((f) => (
                  <tr key={f.label}>
                    <th>{f.label}</th>
                    <td className="mono">{a ? f.of(a) : ""}</td>
                    <td className="mono">{b ? f.of(b) : ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </div>
  );
}

// ---------------------------------------------------------------------------------------
// New version

function NewVersionForm({
  base,
  siblings,
  versions = [],
  onCreated,
  freshPrompt = false,
}: {
  base: PromptVersion | undefined;
  siblings: string[];
  versions?: PromptVersion[];
  onCreated: (p: PromptVersion) => void;
  freshPrompt?: boolean;
}) {
  const { client, session } = useApp();
  const [form, setForm] = useState<PromptForm>(() => formFrom(base, siblings));
  const [from, setFrom] = useState("");
  const [errors, setErrors] = useState<FormErrors<PromptForm>>({});
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, run] = useBusy();
  const set = <K extends keyof PromptForm>(k: K, v: PromptForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const used = templateVariables(form.template);

  const submit = async () => {
    const { body, errors: errs } = promptBody(form);
    setErrors(errs);
    if (!body || hasErrors(errs)) return;
    await run(async () => onCreated(await createPromptVersion(client, body)), setError);
  };

  return (
    <form
      className="form-grid"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
      data-testid="new-version-form"
    >
      {!freshPrompt && versions.length > 0 && (
        <Field label="Start from" hint="copies its template and metadata">
          <select
            value={from}
            onChange={(e) => {
              setFrom(e.target.value);
              const start = versions.find((v) => v.version === e.target.value) ?? versions[0];
              if (start) setForm((f) => ({ ...formFrom(start, siblings), version: f.version, changelog: f.changelog }));
            }}
            data-testid="new-version-base"
          >
            <option value="">the newest ({versions[0]?.version})</option>
            <VersionOptions versions={versions} />
          </select>
        </Field>
      )}
      <Field label="Prompt id" error={errors.prompt_id}>
        <input value={form.prompt_id} onChange={(e) => set("prompt_id", e.target.value)} readOnly={!freshPrompt} className="mono" data-testid="new-prompt-id" />
      </Field>
      <Field label="Version" error={errors.version} hint="versions are immutable once created">
        <input value={form.version} onChange={(e) => set("version", e.target.value)} className="mono" data-testid="new-version" />
      </Field>
      <Field label="Owner" error={errors.owner}>
        <input value={form.owner} onChange={(e) => set("owner", e.target.value)} data-testid="new-owner" />
      </Field>
      <Field label="Template (system prompt, minijinja)" error={errors.template} wide>
        <textarea value={form.template} onChange={(e) => set("template", e.target.value)} rows={7} className="mono" data-testid="new-template" />
      </Field>
      <Field
        label="Variables"
        error={errors.variables}
        hint={used.length > 0 ? `the template reads: ${used.join(", ")}` : "comma-separated; every one must be given at render time"}
      >
        <div className="input-row">
          <input value={form.variables} onChange={(e) => set("variables", e.target.value)} className="mono" data-testid="new-variables" />
          <button type="button" className="small" onClick={() => set("variables", used.join(", "))} disabled={used.length === 0} title="Use the names the template reads">
            Detect
          </button>
        </div>
      </Field>
      <Field label="Compatible models" hint="comma-separated PROVIDER/MODEL; empty means any">
        <input value={form.compatible_models} onChange={(e) => set("compatible_models", e.target.value)} className="mono" />
      </Field>
      <Field label="Schema version">
        <input value={form.schema_version} onChange={(e) => set("schema_version", e.target.value)} className="mono" placeholder="ticket_triage.v1" />
      </Field>
      <Field label="Answer format">
        <select value={form.response_format} onChange={(e) => set("response_format", e.target.value as PromptForm["response_format"])}>
          <option value="text">text</option>
          <option value="json_object">JSON object</option>
        </select>
      </Field>
      <Field label="Eval scores (JSON object)" error={errors.eval}>
        <input value={form.eval} onChange={(e) => set("eval", e.target.value)} className="mono" placeholder='{"exact_json_rate": 0.99}' />
      </Field>
      <Field label="Initial status" hint="draft serves only when named">
        <select value={form.status} onChange={(e) => set("status", e.target.value as PromptForm["status"])} data-testid="new-status">
          <option value="draft">draft</option>
          <option value="canary">canary (10% of users)</option>
          <option value="stable">stable</option>
        </select>
      </Field>
      {freshPrompt && (
        <Field label="Scope">
          <select value={form.workspace} onChange={(e) => set("workspace", e.target.value)}>
            <option value="">install-wide</option>
            {(session.workspaces ?? []).map((w) => (
              <option key={w} value={w}>
                workspace {w}
              </option>
            ))}
          </select>
        </Field>
      )}
      <Field label="Changelog" wide>
        <input value={form.changelog} onChange={(e) => set("changelog", e.target.value)} placeholder="What changed and why" data-testid="new-changelog" />
      </Field>
      {error && (
        <div className="wide">
          <ErrorNotice error={error} onDismiss={() => setError(null)} />
        </div>
      )}
      <div className="form-actions wide">
        <button className="primary" type="submit" disabled={busy} data-testid="create-version">
          {busy ? "Creating…" : `Create ${form.version || "version"}`}
        </button>
      </div>
    </form>
  );
}

// ---------------------------------------------------------------------------------------
// Playground

function defaultRunModels(version: PromptVersion | undefined, available: string[]): string[] {
  const compatible = (version?.compatible_models ?? []).filter((m) => available.includes(m));
  const pool = compatible.length > 0 ? compatible : available;
  return pool.slice(0, 1);
}

function Playground({ group }: { group: PromptGroup }) {
  const { client, session, models } = useApp();
  const workspace = client.workspace ?? session.workspace;
  const concrete = concreteModels(models);
  const routes = models.filter((m) => m.id.startsWith("hearth/"));
  const [version, setVersion] = useState(() => (stableOf(group) ?? group.versions[0])?.version ?? "");
  const chosen = group.versions.find((v) => v.version === version);
  const [typed, setTyped] = useState<Record<string, string>>({});
  const [system, setSystem] = useState<{ version: string; text: string } | null>(null);
  const [renderError, setRenderError] = useState<ApiError | null>(null);
  const [rendering, setRendering] = useState(false);
  const [message, setMessage] = useState("The customer was charged twice after upgrading the plan.");
  const [selected, setSelected] = useState<string[]>(() => defaultRunModels(chosen, concrete.map((m) => m.id)));
  const { columns, running, runAll, stop } = useAnswerColumns(client);
  const [ranVersion, setRanVersion] = useState<string | null>(null);
  const vars = variablesFor(chosen, typed);

  useEffect(() => {
    setSelected((sel) => keepSelection(sel, models, () => defaultRunModels(chosen, concreteModels(models).map((m) => m.id))));
  }, [models]); // Only when the list changes: a user's pick stays otherwise.

  const render = async () => {
    if (!chosen) return;
    setRendering(true);
    setRenderError(null);
    try {
      const r = await renderPrompt(client, group.prompt_id, { version: chosen.version, workspace, variables: vars });
      setSystem({ version: r.version, text: r.system });
    } catch (e) {
      setSystem(null);
      setRenderError(asApiError(e));
    } finally {
      setRendering(false);
    }
  };

  const run = useCallback(async () => {
    if (!chosen || !message.trim() || selected.length === 0 || running) return;
    const metadata = promptMetadata(group.prompt_id, chosen.version, vars);
    setRanVersion(chosen.version);
    await runAll(selected, (model) => ({ model, messages: [{ role: "user", content: message }], metadata, temperature: 0 }));
  }, [chosen, message, selected, running, group.prompt_id, vars, runAll]);

  useShortcuts({ send: () => void run(), stop });

  const chip = (id: string, note?: string) => {
    const compatible = chosen && chosen.compatible_models.length > 0 && chosen.compatible_models.includes(id);
    return (
      <ModelChip
        key={id}
        id={id}
        selected={selected}
        max={MAX_RUN_MODELS}
        disabled={running}
        onToggle={() => setSelected((s) => toggleModel(s, id, MAX_RUN_MODELS))}
        notes={[compatible && "compatible", note]}
      />
    );
  };

  return (
    <div className="pane playground" data-testid="playground">
      <div className="playground-grid">
        <div className="playground-inputs">
          <label className="field">
            <span>Version</span>
            <select
              value={version}
              onChange={(e) => {
                setVersion(e.target.value);
                setSystem(null);
                setRenderError(null);
              }}
              data-testid="playground-version"
            >
              {group.versions.map((v) => (
                <option key={v.version} value={v.version}>
                  {v.version} ({v.status}
                  {v.status === "canary" ? ` ${formatShare(v.canary_share)}` : ""})
                </option>
              ))}
            </select>
          </label>
          {chosen && chosen.variables.length === 0 && <p className="muted small-text">This version declares no variables.</p>}
          {chosen?.variables.map((name) => (
            <label key={name} className="field">
              <span className="mono">{name}</span>
              <input
                value={typed[name] ?? ""}
                onChange={(e) => setTyped((t) => ({ ...t, [name]: e.target.value }))}
                data-testid={`var-${name}`}
                data-var={name}
                placeholder="(empty)"
              />
            </label>
          ))}
          <div className="form-actions">
            <button onClick={() => void render()} disabled={!chosen || rendering} data-testid="render">
              {rendering ? "Rendering…" : "Render"}
            </button>
            <span className="muted small-text">in workspace {workspace}</span>
          </div>
        </div>
        <div className="playground-system">
          <span className="label">System prompt {system ? `(${group.prompt_id} ${system.version})` : ""}</span>
          {renderError && <ErrorNotice error={renderError} onDismiss={() => setRenderError(null)} />}
          {system ? (
            <pre className="template" data-testid="rendered-system">
              {system.text}
            </pre>
          ) : (
            !renderError && <div className="template placeholder muted">Render shows the system prompt this version makes with these variables.</div>
          )}
        </div>
      </div>

      <div className="playground-run">
        <label className="field">
          <span>User message</span>
          <textarea value={message} onChange={(e) => setMessage(e.target.value)} rows={3} data-testid="playground-message" />
        </label>
        <div className="compare-models" data-testid="playground-models">
          <span className="label">Run against (1-{MAX_RUN_MODELS})</span>
          {concrete.map((m) => chip(m.id, m.locality === "on_device" ? "on device" : undefined))}
          {routes.map((m) => chip(m.id, "router"))}
        </div>
        <div className="compare-bar">
          <span className="muted grow small-text">
            Sent as <code>metadata</code>: prompt_id, prompt_version{chosen && chosen.variables.length > 0 ? `, ${chosen.variables.map((v) => `var_${v}`).join(", ")}` : ""} · temperature 0
          </span>
          {running ? (
            <StopButton onStop={stop} testId="playground-stop" title="Stop all (Esc)" />
          ) : (
            <button
              className="primary"
              onClick={() => void run()}
              disabled={!chosen || !message.trim() || selected.length === 0}
              data-testid="playground-run"
              title={`Run (${keysFor("send")})`}
            >
              Run {chosen ? chosen.version : ""}
            </button>
          )}
        </div>
      </div>

      {columns.length > 0 && (
        <div className={`columns cols-${columns.length}`} data-testid="playground-columns">
          {columns.map((a, i) => (
            <AnswerColumn key={`${a.requestedModel}-${i}`} answer={a} testId="playground-column" textTestId="playground-text">
              {ranVersion && !a.promptId && (
                <span className="tag tag-prompt" data-testid="tag-prompt" title="the prompt version this run used">
                  {group.prompt_id} {ranVersion}
                </span>
              )}
              <AnswerTags answer={a} locality={localityOf(models, a.model ?? a.requestedModel)} />
            </AnswerColumn>
          ))}
        </div>
      )}
    </div>
  );
}
