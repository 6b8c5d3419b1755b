import { Fragment, useCallback, useEffect, useRef, useState } from "react";
import { auditPage, type AuditEvent } from "../api/admin";
import { asApiError, concreteModels, tasksOf, type ApiError } from "../api/client";
import { useApp } from "../app/context";
import { download } from "../components/download";
import { EmptyRow } from "../components/EmptyRow";
import { ErrorNotice } from "../components/ErrorNotice";
import { Options } from "../components/Field";
import { Icon } from "../components/Icon";
import { formatCost, formatLatency, formatTokens } from "../format";
import {
  AUDIT_STATUSES,
  PAGE_SIZES,
  appendPage,
  auditCsv,
  auditCsvName,
  auditQuery,
  defaultFilters,
  formatTimestamp,
  promptLabel,
  shortHash,
  type AuditFilters,
} from "../state/audit";
import { toggled } from "../state/sets";

const COLUMNS = 17;

export function AuditView() {
  const { client, session, models } = useApp();
  const admin = session.role === "admin";
  const acting = client.workspace ?? session.workspace;
  const [form, setForm] = useState<AuditFilters>(() => defaultFilters(admin ? acting : ""));
  /** The filters of the loaded pages: "Load more" continues these, not what is typed since. */
  const [applied, setApplied] = useState<AuditFilters>(form);
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<number | null>(null);
  const [loading, setLoading] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [open, setOpen] = useState<Set<number>>(() => new Set());
  const seq = useRef(0);

  const tasks = tasksOf(models);
  const modelIds = concreteModels(models).map((m) => m.id);

  const load = useCallback(
    async (f: AuditFilters, after: number | null) => {
      const q = auditQuery(f, after);
      if ("error" in q) {
        setFormError(q.error);
        return;
      }
      setFormError(null);
      const n = ++seq.current;
      setLoading(true);
      try {
        const page = await auditPage(client, q.query);
        if (n !== seq.current) return;
        setEvents((prev) => (after === null ? page.events : appendPage(prev, page.events)));
        setCursor(page.next_cursor);
        setApplied(f);
        setError(null);
        setLoaded(true);
        if (after === null) setOpen(new Set());
      } catch (e) {
        if (n === seq.current) setError(asApiError(e));
      } finally {
        if (n === seq.current) setLoading(false);
      }
    },
    [client],
  );

  useEffect(() => {
    void load(form, null);
    // The first page once; afterwards Apply decides.
  }, [load]);

  const set = <K extends keyof AuditFilters>(k: K, v: AuditFilters[K]) => setForm((f) => ({ ...f, [k]: v }));
  const toggle = (id: number) => setOpen((s) => toggled(s, id));

  const workspaceLabel = admin ? applied.workspace || "every workspace" : session.workspace;

  return (
    <div className="audit-view">
      <header className="pane-head view-head">
        <div>
          <h2>Audit log</h2>
          <p className="muted small-text audit-note" data-testid="audit-note">
            <Icon name="lock" size={13} /> The audit log holds no message text: prompts and answers are never written to it, only who asked (a keyed
            hash of the user), which model answered, tokens, cost, timing and the policy decision.
          </p>
        </div>
      </header>

      <form
        className="filter-bar"
        onSubmit={(e) => {
          e.preventDefault();
          void load(form, null);
        }}
        data-testid="audit-filters"
      >
        {admin && (
          <label>
            <span>Workspace</span>
            <select value={form.workspace} onChange={(e) => set("workspace", e.target.value)} data-testid="audit-workspace">
              <option value="">all</option>
              <Options values={[...new Set([acting, ...(session.workspaces ?? [])])]} />
            </select>
          </label>
        )}
        <label>
          <span>From</span>
          <input type="datetime-local" value={form.since} onChange={(e) => set("since", e.target.value)} data-testid="audit-since" />
        </label>
        <label>
          <span>To</span>
          <input type="datetime-local" value={form.until} onChange={(e) => set("until", e.target.value)} data-testid="audit-until" />
        </label>
        <label>
          <span>Task</span>
          <select value={form.task} onChange={(e) => set("task", e.target.value)} data-testid="audit-task">
            <option value="">any</option>
            <Options values={tasks} />
          </select>
        </label>
        <label>
          <span>Model</span>
          <select value={form.model} onChange={(e) => set("model", e.target.value)} data-testid="audit-model">
            <option value="">any</option>
            <Options values={modelIds} />
          </select>
        </label>
        <label>
          <span>Status</span>
          <select value={form.status} onChange={(e) => set("status", e.target.value)} data-testid="audit-status">
            <option value="">any</option>
            <Options values={AUDIT_STATUSES} />
          </select>
        </label>
        <label>
          <span>Page</span>
          <select value={form.limit} onChange={(e) => set("limit", Number(e.target.value))} data-testid="audit-limit">
            <Options values={PAGE_SIZES} />
          </select>
        </label>
        <div className="filter-actions">
          <button className="primary" type="submit" disabled={loading} data-testid="audit-apply">
            Apply
          </button>
          <button
            type="button"
            onClick={() => {
              const f = defaultFilters(admin ? acting : "");
              setForm(f);
              void load(f, null);
            }}
            disabled={loading}
          >
            Reset
          </button>
          <button
            type="button"
            onClick={() => download(auditCsvName(applied.workspace || (admin ? "" : session.workspace)), auditCsv(events), "text/csv;charset=utf-8")}
            disabled={events.length === 0}
            title="The rows loaded below, every field, as CSV"
            data-testid="audit-export"
          >
            Export CSV
          </button>
        </div>
      </form>
      {formError && (
        <div className="notice warn-notice" data-testid="audit-form-error">
          {formError}
        </div>
      )}
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}

      <div className="audit-body">
        <div className="muted small-text audit-count" data-testid="audit-count">
          {loaded ? `${events.length} ${events.length === 1 ? "event" : "events"} loaded · ${workspaceLabel} · newest first` : "Loading…"}
          {cursor !== null && " · more available"}
        </div>
        <div className="table-wrap">
          <table className="data-table audit-table" data-testid="audit-table">
            <thead>
              <tr>
                <th className="sticky-col">Time</th>
                <th>Workspace</th>
                <th title="HMAC of the user id with this install's secret">User</th>
                <th>Event</th>
                <th>Task</th>
                <th>Prompt</th>
                <th>Provider</th>
                <th>Model</th>
                <th className="num">Tokens in/out</th>
                <th className="num">Cost</th>
                <th className="num">Latency</th>
                <th>Cache</th>
                <th className="num">Retries</th>
                <th>Fallback</th>
                <th>Status</th>
                <th>Error</th>
                <th>Policy</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => {
                const expanded = open.has(e.id);
                return (
                  <Fragment key={e.id}>
                    <tr className={expanded ? "selected" : ""} data-testid="audit-row" data-status={e.status} data-id={e.id}>
                      <td className="nowrap sticky-col">
                        <button
                          className="icon-button expand"
                          onClick={() => toggle(e.id)}
                          aria-expanded={expanded}
                          aria-label={expanded ? "Hide details" : "Show the policy decision and details"}
                          title={expanded ? "Hide details" : "Show the policy decision and details"}
                          data-testid="audit-expand"
                        >
                          <span className={`chevron ${expanded ? "open" : ""}`}>›</span>
                        </button>
                        {formatTimestamp(e.timestamp)}
                      </td>
                      <td className="mono">{e.tenant_id}</td>
                      <td className="mono" title={e.user_id_hash}>
                        {shortHash(e.user_id_hash)}
                      </td>
                      <td className="small-text">{e.event_type.replace(/^llm_request_/, "")}</td>
                      <td>{e.task ?? "—"}</td>
                      <td className="mono small-text nowrap">{promptLabel(e) || "—"}</td>
                      <td className="nowrap">{e.provider ?? "—"}</td>
                      <td className="mono small-text nowrap">{e.model ?? "—"}</td>
                      <td className="num nowrap">
                        {formatTokens(e.input_tokens)} / {formatTokens(e.output_tokens)}
                      </td>
                      <td className="num">{formatCost(e.estimated_cost_usd)}</td>
                      <td className="num nowrap">{formatLatency(e.latency_ms)}</td>
                      <td>{e.cache_hit ? <span className="tag tag-cache">hit</span> : <span className="muted">miss</span>}</td>
                      <td className="num">{e.retry_count > 0 ? <strong className="warn-text">{e.retry_count}</strong> : "0"}</td>
                      <td>{e.fallback_used ? <span className="tag tag-warn">yes</span> : <span className="muted">no</span>}</td>
                      <td>
                        <span className={`status-pill status-${e.status}`} data-testid="audit-status-cell">
                          {e.status}
                        </span>
                      </td>
                      <td className="mono small-text">{e.error_code ?? ""}</td>
                      <td className="policy-cell small-text" title={e.policy_decision}>
                        {e.policy_decision}
                      </td>
                    </tr>
                    {expanded && (
                      <tr className="detail-row" data-testid="audit-detail">
                        <td colSpan={COLUMNS}>
                          <dl className="facts audit-facts">
                            <div className="wide">
                              <dt>Policy decision</dt>
                              <dd className="policy-full">{e.policy_decision || "—"}</dd>
                            </div>
                            <div>
                              <dt>Trace id</dt>
                              <dd className="mono">{e.trace_id}</dd>
                            </div>
                            <div>
                              <dt>Endpoint</dt>
                              <dd className="mono">{e.endpoint}</dd>
                            </div>
                            <div>
                              <dt>Event type</dt>
                              <dd className="mono">{e.event_type}</dd>
                            </div>
                            <div>
                              <dt>User hash</dt>
                              <dd className="mono">{e.user_id_hash}</dd>
                            </div>
                            <div>
                              <dt>Schema</dt>
                              <dd className="mono">{e.schema_version ?? "—"}</dd>
                            </div>
                            <div>
                              <dt>Tools</dt>
                              <dd>{e.tool_names?.length ? e.tool_names.join(", ") : "none"}</dd>
                            </div>
                          </dl>
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
              {loaded && events.length === 0 && (
                <EmptyRow cols={COLUMNS} className="muted empty-row">
                  No events match. Requests, rejections and failures of {workspaceLabel} appear here as they happen.
                </EmptyRow>
              )}
            </tbody>
          </table>
        </div>
        <div className="load-more">
          {cursor !== null ? (
            <button onClick={() => void load(applied, cursor)} disabled={loading} data-testid="audit-more">
              {loading ? "Loading…" : `Load ${applied.limit} more`}
            </button>
          ) : (
            loaded && events.length > 0 && <span className="muted small-text">That is all.</span>
          )}
        </div>
      </div>
    </div>
  );
}
