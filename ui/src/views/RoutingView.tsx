import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { listWorkspaces, type WorkspaceView } from "../api/admin";
import { asApiError, type ApiError } from "../api/client";
import {
  applyPolicy,
  getAuditEvents,
  getPolicy,
  getProviders,
  validatePolicy,
  type AuditEvent,
  type ModelSpec,
  type Policy,
  type PolicySummary,
  type ProviderStatus,
} from "../api/insights";
import { useApp, useShortcuts } from "../app/context";
import { AdminNotice, needsAdmin } from "../components/AdminNotice";
import { Confirm } from "../components/Confirm";
import { EmptyRow } from "../components/EmptyRow";
import { ErrorNotice } from "../components/ErrorNotice";
import { Icon } from "../components/Icon";
import { InsCard } from "../components/InsCard";
import { MeterBar } from "../components/MeterBar";
import { usePoll } from "../components/usePoll";
import { formatCost, formatLatency, formatTokens } from "../format";
import { keysFor } from "../shortcuts";
import { formatShare } from "../state/costs";
import { applyStep, applyTitle, isStale, listText, missingSections, restartNeededText, type EditorResult } from "../state/policyEditor";
import { policyToToml } from "../state/policyToml";
import {
  allowedEntries,
  breakerLabel,
  budgetActionText,
  dataPolicyText,
  errorRates,
  isRequestEvent,
  lineRange,
  modelsOfTier,
  parseDecision,
  policyErrorLocation,
  providerLocality,
  providerRows,
  routeActionText,
  tierAllows,
  type DecisionStep,
  type ProviderErrors,
} from "../state/routing";

/** How many audit events the error rates look at (the most one call returns). */
const HEALTH_WINDOW = 500;
/** How many decisions the live feed shows. */
const FEED_SIZE = 30;
const FEED_EVERY_MS = 3000;
const HEALTH_EVERY_MS = 15000;

export function RoutingView() {
  const { client, session, reloadModels, recheckReady } = useApp();
  const workspace = client.workspace ?? session.workspace;

  const [policy, setPolicy] = useState<Policy | null>(null);
  const [providers, setProviders] = useState<ProviderStatus[]>([]);
  const [wsRecord, setWsRecord] = useState<WorkspaceView | null>(null);
  const [adminError, setAdminError] = useState<ApiError | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [healthEvents, setHealthEvents] = useState<AuditEvent[] | null>(null);
  const [feed, setFeed] = useState<AuditEvent[]>([]);
  const [feedError, setFeedError] = useState<ApiError | null>(null);
  const [live, setLive] = useState(true);
  /** The feed's scope: the acting workspace, or (admins) every workspace. */
  const [feedAll, setFeedAll] = useState(false);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const lastSeenId = useRef<number | null>(null);
  const [fresh, setFresh] = useState<Set<number>>(new Set());

  const isAdmin = adminError === null;

  const loadPolicy = useCallback(async () => {
    try {
      const [p, ws] = await Promise.all([getPolicy(client), listWorkspaces(client)]);
      setPolicy(p);
      setWsRecord(ws.find((w) => w.workspace.id === workspace) ?? null);
      setAdminError(null);
      setLoadError(null);
    } catch (e) {
      if (needsAdmin(e)) setAdminError(asApiError(e));
      else setLoadError(asApiError(e));
    }
  }, [client, workspace]);

  useEffect(() => {
    void loadPolicy();
  }, [loadPolicy]);

  const loadProviders = useCallback(async () => {
    try {
      setProviders(await getProviders(client));
      setUpdatedAt(Date.now());
    } catch (e) {
      if (needsAdmin(e)) setAdminError(asApiError(e));
      else setLoadError(asApiError(e));
    }
  }, [client]);

  const loadFeed = useCallback(async () => {
    try {
      const scope = feedAll && session.role === "admin" ? null : workspace;
      const events = (await getAuditEvents(client, FEED_SIZE * 2, scope)).filter(isRequestEvent).slice(0, FEED_SIZE);
      if (scope !== feedScope.current) return;
      // Ids grow; the first load is not "new", later ones highlight what arrived since.
      const last = lastSeenId.current;
      setFresh(last === null ? new Set() : new Set(events.filter((e) => e.id > last).map((e) => e.id)));
      lastSeenId.current = Math.max(last ?? 0, ...events.map((e) => e.id));
      setFeed(events);
      setFeedError(null);
    } catch (e) {
      setFeedError(asApiError(e));
    }
  }, [client, feedAll, session.role, workspace]);

  const loadHealth = useCallback(async () => {
    try {
      // Providers serve every workspace: their health is read across all of them.
      setHealthEvents(await getAuditEvents(client, HEALTH_WINDOW, null));
    } catch (e) {
      setFeedError(asApiError(e));
    }
  }, [client]);

  usePoll(loadProviders, FEED_EVERY_MS, isAdmin);
  const feedScope = useRef<string | null>(workspace);
  feedScope.current = feedAll && session.role === "admin" ? null : workspace;
  useEffect(() => {
    lastSeenId.current = null;
  }, [feedAll]);
  usePoll(loadFeed, FEED_EVERY_MS, live, feedAll);
  usePoll(loadHealth, HEALTH_EVERY_MS, isAdmin);

  const refresh = () => {
    void loadPolicy();
    void loadProviders();
    void loadFeed();
    void loadHealth();
  };

  const rates = useMemo(
    () => (healthEvents ? errorRates(healthEvents, providerRows(policy, providers).map((r) => r.name)) : null),
    [healthEvents, policy, providers],
  );

  return (
    <div className="ins-page" data-testid="routing-view">
      <header className="ins-head">
        <div className="ins-head-text">
          <h1>Routing</h1>
          <p className="muted">Which model answers each task, what each tier may use, how the providers are doing, and why each request went where it went.</p>
        </div>
        <div className="ins-head-actions">
          {updatedAt !== null && (
            <span className="muted small-text" title="The breakers are read every 3 s while this view is open">
              breakers read {new Date(updatedAt).toLocaleTimeString("en-GB")}
            </span>
          )}
          <button onClick={refresh} data-testid="routing-refresh" title="Read everything again">
            <Icon name="rerun" size={14} /> Refresh
          </button>
        </div>
      </header>

      {loadError && <ErrorNotice error={loadError} onDismiss={() => setLoadError(null)} />}

      <WorkspaceStrip
        workspace={workspace}
        tier={session.tier}
        dataPolicy={wsRecord?.workspace.data_policy ?? session.data_policy}
        record={wsRecord}
      />

      {adminError && <AdminNotice error={adminError} what="The policy, the providers and their error rates" />}

      {isAdmin && (
        <ProvidersCard
          policy={policy}
          providers={providers}
          rates={rates?.byProvider ?? null}
          window={rates?.requests ?? null}
        />
      )}

      <FeedCard
        events={feed}
        fresh={fresh}
        error={feedError}
        live={live}
        onLive={setLive}
        workspace={workspace}
        all={feedAll && session.role === "admin"}
        onAll={session.role === "admin" ? setFeedAll : null}
      />

      {isAdmin && policy && (
        <>
          <RoutesCard policy={policy} tier={session.tier} />
          <TiersCard policy={policy} tier={session.tier} />
          <ModelsCard policy={policy} />
        </>
      )}

      {isAdmin && (
        <PolicyEditor
          policy={policy}
          onApplied={() => {
            void loadPolicy();
            void loadProviders();
            reloadModels();
            // A rebuilt provider warms up in the background: the top bar shows it loading.
            recheckReady?.();
          }}
        />
      )}
    </div>
  );
}

// ---------------------------------------------------------------------------------------

function WorkspaceStrip(props: { workspace: string; tier: string; dataPolicy: string; record: WorkspaceView | null }) {
  const r = props.record?.workspace;
  return (
    <section className="ins-card ins-strip" data-testid="data-policy-card" aria-label="This workspace's data policy">
      <div className="ins-strip-item">
        <span className="label">Workspace</span>
        <strong>{props.workspace}</strong>
      </div>
      <div className="ins-strip-item">
        <span className="label">Tier</span>
        <strong>{props.tier}</strong>
      </div>
      <div className="ins-strip-item ins-strip-wide">
        <span className="label">Data policy</span>
        <span>
          <code className={`ins-policy-name dp-${props.dataPolicy}`} data-testid="workspace-data-policy">
            {props.dataPolicy}
          </code>{" "}
          <span className="muted">{dataPolicyText(props.dataPolicy)}</span>
        </span>
      </div>
      {r && (
        <>
          <div className="ins-strip-item">
            <span className="label">PII patterns</span>
            <span title={r.pii_patterns.join("\n")}>{r.pii_patterns.length === 0 ? "built-in only" : `${r.pii_patterns.length} of its own`}</span>
          </div>
          <div className="ins-strip-item">
            <span className="label">Exact cache</span>
            <span>{r.cache_enabled ? "on" : "off"}</span>
          </div>
        </>
      )}
    </section>
  );
}

// ---------------------------------------------------------------------------------------

function BreakerPill({ state }: { state: string }) {
  return (
    <span className={`ins-breaker br-${state}`} data-testid="breaker-state" data-state={state}>
      <span className="ins-dot" aria-hidden />
      {breakerLabel(state)}
    </span>
  );
}

function LocalityTag({ locality }: { locality: string | undefined }) {
  if (!locality) return <span className="muted">—</span>;
  return <span className={`tag ${locality === "on_device" ? "tag-local" : "tag-hosted"}`}>{locality === "on_device" ? "on device" : "hosted"}</span>;
}

function ProvidersCard(props: {
  policy: Policy | null;
  providers: ProviderStatus[];
  rates: Map<string, ProviderErrors> | null;
  window: number | null;
}) {
  const rows = providerRows(props.policy, props.providers);
  return (
    <InsCard
      id="providers"
      title="Providers"
      noteTestId="error-window"
      note={
        props.window === null
          ? "reading the audit log…"
          : props.window === 0
            ? "No requests yet: error rates appear over the last requests of every workspace"
            : `Error rates over the last ${props.window} requests, all workspaces`
      }
    >
      <div className="ins-table-wrap">
        <table className="ins-table" data-testid="providers-table">
          <thead>
            <tr>
              <th>Provider</th>
              <th>Kind</th>
              <th>Where</th>
              <th>Breaker</th>
              <th className="num" title="Failures in a row; the breaker opens at the threshold">
                Failures in a row
              </th>
              <th>Usable</th>
              <th className="num" title="Calls made to this provider in those requests (cache hits and skipped candidates are not calls)">
                Calls
              </th>
              <th>Error rate</th>
              <th>Why calls failed</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const st = r.status;
              const e = props.rates?.get(r.name);
              const rate = e?.rate ?? null;
              return (
                <tr key={r.name} data-testid="provider-row" data-provider={r.name}>
                  <td className="ins-nowrap">
                    <code>{r.name}</code>
                  </td>
                  <td>{r.config?.kind ?? "—"}</td>
                  <td>
                    <LocalityTag locality={providerLocality(r.config)} />
                  </td>
                  <td>{st ? <BreakerPill state={st.breaker.state} /> : <span className="muted">—</span>}</td>
                  <td className="num" data-testid="consecutive-failures">
                    {st ? st.breaker.consecutive_failures : "—"}
                  </td>
                  <td>{st ? st.usable ? "yes" : <span className="ins-bad">no</span> : "—"}</td>
                  <td className="num">
                    {e ? e.attempts : "—"}
                    {e && e.skipped > 0 && (
                      <div className="muted small-text ins-skipped" title="Candidates passed over without a call (breaker open, tier, data policy)">
                        +{e.skipped} skipped
                      </div>
                    )}
                  </td>
                  <td className="ins-rate" data-testid="error-rate">
                    {rate === null ? (
                      <span className="muted">no calls</span>
                    ) : (
                      <>
                        <MeterBar share={rate} tone={rate >= 0.5 ? "danger" : rate > 0.05 ? "warn" : "ok"} label={`error rate of ${r.name}`} />
                        <span className={rate > 0 ? "ins-bad" : ""}>
                          {formatShare(rate)} <span className="muted small-text">({e!.failures}/{e!.attempts})</span>
                        </span>
                      </>
                    )}
                  </td>
                  <td className="small-text">
                    {e && e.reasons.length > 0
                      ? e.reasons.map((x) => (
                          <span key={x.reason} className="tag tag-warn ins-reason">
                            {x.reason} ×{x.count}
                          </span>
                        ))
                      : <span className="muted">—</span>}
                  </td>
                </tr>
              );
            })}
            {rows.length === 0 && <EmptyRow cols={9}>No providers.</EmptyRow>}
          </tbody>
        </table>
      </div>
      <p className="ins-foot muted small-text">
        A request's audit event names only the provider that answered; the calls that failed before it are read from its decision
        line. Retries on the same provider are not counted separately.
      </p>
    </InsCard>
  );
}

// ---------------------------------------------------------------------------------------

function StepChip({ step }: { step: DecisionStep }) {
  const tone =
    step.kind === "failed" || step.kind === "breaker"
      ? "ins-step-bad"
      : step.kind === "skip"
        ? "ins-step-warn"
        : step.kind === "route" || step.kind === "named"
          ? "ins-step-route"
          : "";
  return <span className={`ins-step ${tone}`}>{step.text}</span>;
}

function FeedCard(props: {
  events: AuditEvent[];
  fresh: Set<number>;
  error: ApiError | null;
  live: boolean;
  onLive: (v: boolean) => void;
  workspace: string;
  all: boolean;
  /** Admins choose the scope; null for a user's key (its own workspace only). */
  onAll: ((all: boolean) => void) | null;
}) {
  const cols = props.all ? 8 : 7;
  return (
    <InsCard
      id="feed"
      title="Recent routing decisions"
      note={
        <>
          {props.all ? "all workspaces" : `workspace ${props.workspace}`}, newest first{props.live ? `, read every ${FEED_EVERY_MS / 1000} s` : ", paused"}
        </>
      }
      head={
        <>
          <span className="grow" />
          {props.onAll && (
            <div className="ins-seg small" role="group" aria-label="Which workspaces">
              <button className={props.all ? "" : "on"} aria-pressed={!props.all} onClick={() => props.onAll?.(false)} data-testid="feed-scope-workspace">
                {props.workspace}
              </button>
              <button className={props.all ? "on" : ""} aria-pressed={props.all} onClick={() => props.onAll?.(true)} data-testid="feed-scope-all">
                All workspaces
              </button>
            </div>
          )}
          <button
            className={`small ins-live ${props.live ? "on" : ""}`}
            onClick={() => props.onLive(!props.live)}
            aria-pressed={props.live}
            data-testid="feed-live"
            title={props.live ? "Pause the feed" : "Follow new requests"}
          >
            <span className="ins-dot" aria-hidden />
            {props.live ? "Live" : "Paused"}
          </button>
        </>
      }
    >
      {props.error && <ErrorNotice error={props.error} />}
      <div className="ins-table-wrap ins-feed-wrap">
        <table className="ins-table ins-feed" data-testid="decision-feed">
          <thead>
            <tr>
              <th>Time</th>
              {props.all && <th>Workspace</th>}
              <th>Task</th>
              <th>Model</th>
              <th>Status</th>
              <th className="num">Latency</th>
              <th className="num">Cost</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {props.events.map((e) => {
              const d = parseDecision(e.policy_decision);
              return (
                <tr key={e.id} className={props.fresh.has(e.id) ? "ins-fresh" : ""} data-testid="decision-row" data-trace={e.trace_id}>
                  <td className="ins-nowrap" title={e.timestamp}>
                    {new Date(e.timestamp).toLocaleTimeString("en-GB")}
                  </td>
                  {props.all && <td>{e.tenant_id}</td>}
                  <td>{e.task ?? "—"}</td>
                  <td className="ins-model-cell">
                    {e.model ? <code>{e.model}</code> : <span className="muted">none</span>}
                    <span className="ins-flags">
                      {e.cache_hit && <span className="tag tag-cache">cache hit</span>}
                      {e.fallback_used && <span className="tag tag-warn">fallback</span>}
                      {e.retry_count > 0 && (
                        <span className="tag tag-warn">
                          {e.retry_count} {e.retry_count === 1 ? "retry" : "retries"}
                        </span>
                      )}
                    </span>
                  </td>
                  <td>
                    <span className={`ins-status st-${e.status}`} data-testid="decision-status">
                      {e.status}
                    </span>
                    {e.error_code && (
                      <div>
                        <code className="small-text ins-bad">{e.error_code}</code>
                      </div>
                    )}
                  </td>
                  <td className="num ins-nowrap">{formatLatency(e.latency_ms)}</td>
                  <td className="num ins-nowrap">{e.cache_hit ? "$0" : formatCost(e.estimated_cost_usd)}</td>
                  <td className="ins-why" data-testid="decision-reason" title={e.policy_decision}>
                    <span className={`ins-head-word hw-${d.head}`}>{d.head}</span>
                    {d.steps.map((s, i) => (
                      <StepChip key={i} step={s} />
                    ))}
                  </td>
                </tr>
              );
            })}
            {props.events.length === 0 && !props.error && (
              <EmptyRow cols={cols}>No requests {props.all ? "" : "in this workspace "}yet. Send one from Chat and it shows up here.</EmptyRow>
            )}
          </tbody>
        </table>
      </div>
    </InsCard>
  );
}

// ---------------------------------------------------------------------------------------

function ModelRef({ policy, alias, tier }: { policy: Policy; alias: string; tier?: string }) {
  const m: ModelSpec | undefined = policy.models[alias];
  const t = tier ? policy.tiers[tier] : undefined;
  const denied = m && t ? !tierAllows(t, m) : false;
  return (
    <span
      className={`ins-model ${denied ? "denied" : ""}`}
      title={m ? `${m.address}${denied ? ` — not allowed for tier ${tier}: skipped` : ""}` : "not in the policy"}
      data-testid="route-model"
    >
      <strong>{alias}</strong>
      {m && <code className="muted">{m.address}</code>}
      {denied && <span className="tag tag-warn">not in {tier}</span>}
    </span>
  );
}

function RoutesCard({ policy, tier }: { policy: Policy; tier: string }) {
  const routes = Object.values(policy.routes).sort((a, b) => a.task.localeCompare(b.task));
  return (
    <InsCard
      id="routes"
      title="Routes"
      note={<>Each task tries its primary, then the fallbacks in order. Marked: models tier {tier} (this workspace) may not use.</>}
    >
      <div className="ins-table-wrap">
        <table className="ins-table" data-testid="routes-table">
          <thead>
            <tr>
              <th>Task</th>
              <th>Primary</th>
              <th>Fallbacks, in order</th>
              <th className="num">Output cap</th>
            </tr>
          </thead>
          <tbody>
            {routes.map((r) => (
              <tr key={r.task} data-testid="route-row" data-task={r.task}>
                <td>
                  <code>hearth/{r.task}</code>
                </td>
                <td>
                  <ModelRef policy={policy} alias={r.primary} tier={tier} />
                </td>
                <td>
                  {r.fallbacks.length === 0 ? (
                    <span className="muted">none</span>
                  ) : (
                    <ol className="ins-chain">
                      {r.fallbacks.map((f) => (
                        <li key={f}>
                          <ModelRef policy={policy} alias={f} tier={tier} />
                        </li>
                      ))}
                    </ol>
                  )}
                </td>
                <td className="num">{r.max_output_tokens === null ? <span className="muted" title="the model's own cap">model's own</span> : formatTokens(r.max_output_tokens)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </InsCard>
  );
}

function TiersCard({ policy, tier }: { policy: Policy; tier: string }) {
  const tiers = Object.values(policy.tiers).sort((a, b) => a.daily_budget_usd - b.daily_budget_usd || a.name.localeCompare(b.name));
  return (
    <InsCard
      id="tiers"
      title="Tiers"
      note={
        <>
          <code>*</code> allows every model, <code>NAME/*</code> every model of provider NAME.
        </>
      }
    >
      <div className="ins-table-wrap">
        <table className="ins-table" data-testid="tiers-table">
          <thead>
            <tr>
              <th>Tier</th>
              <th>Allowed models</th>
              <th>Default</th>
              <th className="num">Budget / day</th>
              <th className="num">Output cap</th>
              <th className="num">Requests / min</th>
              <th>Budget spent</th>
              <th title="When a route has no model this tier may use">Route not allowed</th>
            </tr>
          </thead>
          <tbody>
            {tiers.map((t) => {
              const entries = allowedEntries(t);
              const effective = modelsOfTier(policy, t);
              return (
                <tr key={t.name} className={t.name === tier ? "ins-current" : ""} data-testid="tier-row" data-tier={t.name}>
                  <td>
                    <strong>{t.name}</strong>
                    {t.name === tier && <div className="muted small-text">this workspace</div>}
                  </td>
                  <td>
                    <span className="ins-chips" title={`Effective: ${effective.join(", ") || "none"}`}>
                      {entries.map((a) => (
                        <code key={a} className={`ins-chip ${a.endsWith("*") ? "wild" : ""}`}>
                          {a}
                        </code>
                      ))}
                      {entries.length === 0 && <span className="muted">none</span>}
                    </span>
                  </td>
                  <td>
                    <code>{t.default_model}</code>
                  </td>
                  <td className="num">{formatCost(t.daily_budget_usd)}</td>
                  <td className="num">{formatTokens(t.max_output_tokens)}</td>
                  <td className="num">{t.rpm === null ? <span className="muted">no limit</span> : formatTokens(t.rpm)}</td>
                  <td>{budgetActionText(t)}</td>
                  <td>{routeActionText(t)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </InsCard>
  );
}

function price(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  return v === 0 ? "free" : formatCost(v);
}

function ModelsCard({ policy }: { policy: Policy }) {
  const models = Object.values(policy.models).sort((a, b) => a.alias.localeCompare(b.alias));
  return (
    <InsCard id="models" title="Models" note="Prices per 1M tokens, USD.">
      <div className="ins-table-wrap">
        <table className="ins-table" data-testid="models-table">
          <thead>
            <tr>
              <th>Alias</th>
              <th>Address</th>
              <th>Where</th>
              <th className="num">Input</th>
              <th className="num">Cached input</th>
              <th className="num">Output</th>
              <th className="num">Output cap</th>
            </tr>
          </thead>
          <tbody>
            {models.map((m) => (
              <tr key={m.alias} data-testid="model-row">
                <td>
                  <strong>{m.alias}</strong>
                </td>
                <td>
                  <code>{m.address}</code>
                </td>
                <td>
                  <LocalityTag locality={providerLocality(policy.providers[m.provider])} />
                </td>
                <td className="num">{price(m.prices.input_usd_per_1m)}</td>
                <td className="num">
                  {m.prices.cached_input_usd_per_1m === null ? <span className="muted">as input</span> : price(m.prices.cached_input_usd_per_1m)}
                </td>
                <td className="num">{price(m.prices.output_usd_per_1m)}</td>
                <td className="num">{formatTokens(m.max_output_tokens)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </InsCard>
  );
}

// ---------------------------------------------------------------------------------------

function PolicyEditor({ policy, onApplied }: { policy: Policy | null; onApplied: () => void }) {
  const { client } = useApp();
  const [text, setText] = useState("");
  const [busy, setBusy] = useState<"validate" | "apply" | null>(null);
  const [result, setResult] = useState<EditorResult | null>(null);
  /** The text Apply asks about; the question goes away once the text is edited. */
  const [confirming, setConfirming] = useState<string | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);

  const lines = Math.max(1, text.split("\n").length);
  const where = result?.kind === "invalid" ? policyErrorLocation(result.error.message) : null;

  /** Validates the text; true when it is valid. */
  const validate = useCallback(async (): Promise<boolean> => {
    if (!text.trim() || busy) return false;
    const checked = text;
    setBusy("validate");
    try {
      const summary = await validatePolicy(client, checked);
      setResult({ kind: "valid", text: checked, summary });
      return true;
    } catch (e) {
      setResult({ kind: "invalid", text: checked, error: asApiError(e), during: "validate" });
      return false;
    } finally {
      setBusy(null);
    }
  }, [client, text, busy]);

  const askApply = useCallback(async () => {
    if (busy) return;
    const step = applyStep(text, result);
    if (step === "blocked") return;
    if (step === "validate" && !(await validate())) return;
    setConfirming(text);
  }, [busy, text, result, validate]);

  const apply = useCallback(async () => {
    const toml = confirming;
    if (toml === null || busy) return;
    setBusy("apply");
    try {
      const applied = await applyPolicy(client, toml);
      setResult({ kind: "applied", text: toml, applied });
      onApplied();
    } catch (e) {
      setResult({ kind: "invalid", text: toml, error: asApiError(e), during: "apply" });
    } finally {
      setConfirming(null);
      setBusy(null);
    }
  }, [client, confirming, busy, onApplied]);

  useShortcuts({ send: () => void validate() });

  const goToLine = (line: number) => {
    const el = area.current;
    if (!el) return;
    const r = lineRange(el.value, line);
    if (!r) return;
    el.focus();
    el.setSelectionRange(r.start, r.end);
    const lineHeight = Number.parseFloat(getComputedStyle(el).lineHeight) || 20;
    el.scrollTop = Math.max(0, (line - 3) * lineHeight);
  };

  const stale = isStale(text, result);
  const step = applyStep(text, result);
  const restart = result?.kind === "applied" ? restartNeededText(result.applied.restart_needed) : null;
  const missing = confirming !== null ? missingSections(confirming) : [];

  return (
    <InsCard id="editor" title="Edit the policy" note="Paste or edit a policy file (TOML, as in docs/CONFIG.md), validate it, then apply it.">
      <div className="ins-editor">
        <div className="ins-gutter" ref={gutter} aria-hidden>
          {Array.from({ length: lines }, (_, i) => (
            <div key={i} className={where && where.line === i + 1 ? "err" : ""}>
              {i + 1}
            </div>
          ))}
        </div>
        <textarea
          ref={area}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
          }}
          spellCheck={false}
          wrap="off"
          rows={16}
          placeholder={'[routes.chat]\nprimary = "fallback_balanced"\nfallbacks = ["fast_extractor"]\n…'}
          aria-label="Policy TOML"
          data-testid="policy-editor"
        />
      </div>
      <div className="ins-editor-bar">
        <button onClick={() => void validate()} disabled={!text.trim() || busy !== null} data-testid="policy-validate" title={`Validate (${keysFor("send")})`}>
          {busy === "validate" ? "Validating…" : "Validate"}
        </button>
        <button
          className="primary"
          onClick={() => void askApply()}
          disabled={step === "blocked" || busy !== null || confirming === text}
          data-testid="policy-apply"
          data-step={step}
          title={applyTitle(text, result)}
        >
          {busy === "apply" ? "Applying…" : "Apply"}
        </button>
        <button onClick={() => policy && setText(policy.source ?? policyToToml(policy))} disabled={!policy || busy !== null} data-testid="policy-load-active" title="Fill the editor with the policy the server runs now">
          Start from the active policy
        </button>
        <p className="ins-apply-note" data-testid="policy-apply-note">
          Validate only checks the text. Apply puts it into effect at once for every new request (routes, tiers, models, prices; requests
          already running finish as they started) and saves it, so it is still the policy after a restart (unless Hearth starts with{" "}
          <code>--config FILE</code>).
        </p>
      </div>
      {confirming !== null && confirming === text && (
        <div className="ins-confirm">
          <Confirm action="Apply" busy={busy === "apply"} onConfirm={() => void apply()} onCancel={() => setConfirming(null)}>
            <strong>Apply this policy to every new request?</strong>{" "}
            <span className="muted">It replaces the routes, tiers, models and prices the server runs now, for every workspace.</span>
            {missing.length > 0 && (
              <p className="ins-missing small-text" data-testid="policy-missing-sections">
                This text has no {listText(missing.map((m) => `[${m}]`))} {missing.length === 1 ? "section" : "sections"}: the server keeps{" "}
                {missing.length === 1 ? "its" : "their"} running settings now, but the saved policy lacks them, so the next start uses the defaults.
              </p>
            )}
          </Confirm>
        </div>
      )}
      {result?.kind === "valid" && (
        <div className="ins-result ok" role="status" data-testid="policy-valid">
          <strong>Valid{stale ? " (before your last edit)" : ""}.</strong> {summaryLine(result.summary)}
        </div>
      )}
      {result?.kind === "applied" && (
        <div className="ins-result ok" role="status" data-testid="policy-applied">
          <strong>Applied{stale ? " (before your last edit)" : ""}.</strong> New requests use it; the tables above show it. {summaryLine(result.applied)}
          {(result.applied.saved_to || result.applied.rebuilt.length > 0) && (
            <div className="muted small-text ins-applied-more">
              {result.applied.saved_to && (
                <>
                  Saved to <code data-testid="policy-saved-to">{result.applied.saved_to}</code>: the next start runs it unless <code>--config</code> names
                  another file.{" "}
                </>
              )}
              {result.applied.rebuilt.length > 0 && (
                <span data-testid="policy-rebuilt">
                  Built afresh, warming up now: {listText(result.applied.rebuilt)}.
                </span>
              )}
            </div>
          )}
          {restart && (
            <p className="ins-restart" data-testid="policy-restart-needed">
              <Icon name="rerun" size={14} /> {restart}
            </p>
          )}
        </div>
      )}
      {result?.kind === "invalid" && (
        <div className="ins-result bad" role="alert" data-testid="policy-invalid" data-code={result.error.code} data-during={result.during}>
          <div className="error-head">
            {result.during === "apply" && <strong data-testid="policy-not-applied">Not applied:</strong>}
            <code className="error-code">{result.error.code}</code>
            {result.error.status > 0 && <span className="error-status">HTTP {result.error.status}</span>}
            {where && (
              <>
                <strong data-testid="policy-error-line">
                  line {where.line}
                  {where.column !== null ? `, column ${where.column}` : ""}
                </strong>
                <button className="small" onClick={() => goToLine(where.line)} data-testid="policy-goto-line">
                  Go to line {where.line}
                </button>
              </>
            )}
            {stale && <span className="muted small-text">(before your last edit)</span>}
          </div>
          <pre className="ins-error-text">{result.error.message}</pre>
          {result.during === "apply" && <p className="small-text">The server runs the policy it ran before.</p>}
        </div>
      )}
    </InsCard>
  );
}

function summaryLine(s: Pick<PolicySummary, "providers" | "models" | "routes" | "tiers">): string {
  const part = (n: string, xs: string[]) => `${xs.length} ${n}${xs.length === 1 ? "" : "s"}${xs.length ? ` (${xs.join(", ")})` : ""}`;
  return `${part("provider", s.providers)}, ${part("model", s.models)}, ${part("route", s.routes)}, ${part("tier", s.tiers)}.`;
}
