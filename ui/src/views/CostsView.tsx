import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import { listWorkspaces, type WorkspaceView } from "../api/admin";
import { asApiError, type ApiError } from "../api/client";
import { getAlerts, getCosts, type BudgetAlert, type CostGroup, type CostsAnswer } from "../api/insights";
import { useApp } from "../app/context";
import { AdminNotice, needsAdmin } from "../components/AdminNotice";
import { download } from "../components/download";
import { EmptyRow } from "../components/EmptyRow";
import { ErrorNotice } from "../components/ErrorNotice";
import { Options } from "../components/Field";
import { Icon } from "../components/Icon";
import { InsCard } from "../components/InsCard";
import { MeterBar } from "../components/MeterBar";
import { UPlotChart, withAlpha, type ChartTheme } from "../components/UPlotChart";
import { formatCost, formatTokens, formatWhen } from "../format";
import {
  PERIOD_DAYS,
  alertsOf,
  budgetBars,
  cacheHitRate,
  cacheSavings,
  daysBetween,
  costsCsv,
  csvFileName,
  dailySeries,
  dayStartMs,
  fillDays,
  formatShare,
  periodRange,
  shares,
  tokensOf,
  topBy,
  type BudgetBar,
  type PeriodDays,
} from "../state/costs";

/** A UTC day as "27 Nov" (with the year when asked). */
function dayLabel(day: string, withYear = false): string {
  const ms = dayStartMs(day);
  if (!Number.isFinite(ms)) return day;
  return new Date(ms).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: withYear ? "numeric" : undefined, timeZone: "UTC" });
}

export function CostsView() {
  const { client, session } = useApp();
  const [days, setDays] = useState<PeriodDays>(30);
  const [workspace, setWorkspace] = useState<string>("");
  const [answer, setAnswer] = useState<CostsAnswer | null>(null);
  /** The workspace filter the answer on screen was read with ("" for all). */
  const [answerWs, setAnswerWs] = useState("");
  const [workspaces, setWorkspaces] = useState<WorkspaceView[]>([]);
  const [alerts, setAlerts] = useState<BudgetAlert[]>([]);
  const [adminError, setAdminError] = useState<ApiError | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const seq = useRef(0);

  const load = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    const range = periodRange(days, Date.now());
    try {
      const [c, ws, al] = await Promise.all([
        getCosts(client, { ...range, workspace: workspace || null }),
        listWorkspaces(client),
        getAlerts(client),
      ]);
      if (mine !== seq.current) return;
      setAnswer(c);
      setAnswerWs(workspace);
      setWorkspaces(ws);
      setAlerts(al);
      setAdminError(null);
      setError(null);
    } catch (e) {
      if (mine !== seq.current) return;
      if (needsAdmin(e)) setAdminError(asApiError(e));
      else setError(asApiError(e));
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, [client, days, workspace]);

  useEffect(() => {
    void load();
  }, [load]);

  const names = workspaces.length > 0 ? workspaces.map((w) => w.workspace.id) : (session.workspaces ?? []);

  const exportCsv = () => {
    if (!answer) return;
    download(csvFileName(answer, answerWs || null), costsCsv(answer), "text/csv;charset=utf-8");
  };

  return (
    <div className="ins-page" data-testid="costs-view">
      <header className="ins-head">
        <div className="ins-head-text">
          <h1>Costs</h1>
          <p className="muted">What the gateway spent, where, and what the cache saved. Days are UTC days, as budgets count them.</p>
        </div>
        <div className="ins-head-actions" hidden={adminError !== null}>
          <button onClick={exportCsv} disabled={!answer} data-testid="costs-export" title="Download the breakdowns of this period as CSV">
            Export CSV
          </button>
          <button onClick={() => void load()} title="Read again" data-testid="costs-refresh">
            <Icon name="rerun" size={14} /> Refresh
          </button>
        </div>
      </header>

      <div className="ins-toolbar" hidden={adminError !== null}>
        <div className="ins-seg" role="group" aria-label="Period">
          {PERIOD_DAYS.map((d) => (
            <button key={d} className={d === days ? "on" : ""} aria-pressed={d === days} onClick={() => setDays(d)} data-testid={`period-${d}`}>
              {d} days
            </button>
          ))}
        </div>
        <select value={workspace} onChange={(e) => setWorkspace(e.target.value)} data-testid="costs-workspace" aria-label="Workspace">
          <option value="">All workspaces</option>
          <Options values={names} />
        </select>
        {answer && (
          <span className="muted ins-period" data-testid="costs-period">
            {dayLabel(answer.from, true)} – {dayLabel(answer.to, true)} · {daysBetween(answer.from, answer.to).length} days
            {answerWs ? ` · workspace ${answerWs}` : " · all workspaces"}
          </span>
        )}
      </div>

      {adminError && <AdminNotice error={adminError} what="The costs view" />}
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}

      {!adminError && answer && (
        <CostsBody answer={answer} workspaces={workspaces} alerts={alertsOf(alerts, answerWs || null)} workspace={answerWs} loading={loading} />
      )}
      {!adminError && !answer && !error && <div className="muted ins-loading">Reading the costs…</div>}
    </div>
  );
}

function CostsBody(props: { answer: CostsAnswer; workspaces: WorkspaceView[]; alerts: BudgetAlert[]; workspace: string; loading: boolean }) {
  const { answer } = props;
  const c = answer.costs;
  const hitRate = cacheHitRate(c.total);
  const saving = cacheSavings(c);
  const filled = useMemo(() => fillDays(c.by_day, answer.from, answer.to), [c.by_day, answer.from, answer.to]);
  const bars = budgetBars(props.workspaces.filter((w) => !props.workspace || w.workspace.id === props.workspace));
  return (
    <div className={`ins-body ${props.loading ? "loading" : ""}`}>
      <div className="ins-kpis">
        <Kpi label="Spend" value={formatCost(c.total.cost_usd)} testId="kpi-spend" />
        <Kpi label="Completed requests" value={formatTokens(c.total.requests)} testId="kpi-requests" />
        <Kpi
          label="Tokens"
          value={formatTokens(tokensOf(c.total))}
          sub={`${formatTokens(c.total.input_tokens)} in · ${formatTokens(c.total.output_tokens)} out`}
          testId="kpi-tokens"
        />
        <Kpi label="Cache hit rate" value={formatShare(hitRate)} sub={`${formatTokens(c.total.cache_hits)} of ${formatTokens(c.total.requests)} from the cache`} testId="kpi-cache-rate" />
        <Kpi
          label="Cache saved"
          value={formatCost(c.cache_saved_usd)}
          sub={saving.share === null ? "nothing to save yet" : `${formatShare(saving.share)} of ${formatCost(saving.without)} without it`}
          testId="kpi-cache-saved"
          tone="ok"
        />
      </div>

      <InsCard id="daily" title="Spend per day" note="bars: USD spent · line: completed requests">
        <DailyChart days={filled} />
      </InsCard>

      <GroupCard title="By model" groups={c.by_model} total={c.total} testId="costs-by-model" mono />
      <div className="ins-grid">
        <GroupCard title="By task" groups={c.by_task} total={c.total} testId="costs-by-task" />
        <GroupCard title="By workspace" groups={c.by_workspace} total={c.total} testId="costs-by-workspace" />
        <TopCard groups={c.by_workspace} />
        <BudgetsCard bars={bars} />
      </div>
      <AlertsCard alerts={props.alerts} />
    </div>
  );
}

function Kpi(props: { label: string; value: string; sub?: string; testId: string; tone?: "ok" }) {
  return (
    <div className={`ins-kpi ${props.tone ? `tone-${props.tone}` : ""}`} data-testid={props.testId}>
      <span className="label">{props.label}</span>
      <strong className="ins-kpi-value">{props.value}</strong>
      {props.sub && <span className="muted small-text">{props.sub}</span>}
    </div>
  );
}

function DailyChart({ days }: { days: CostGroup[] }) {
  const data = useMemo(() => dailySeries(days) as uPlot.AlignedData, [days]);
  const options = useCallback(
    (t: ChartTheme): Omit<uPlot.Options, "width" | "height"> => {
      const axisFont = `12px ${t.font}`;
      const axis = { stroke: t.muted, font: axisFont, grid: { stroke: withAlpha(t.grid, 1), width: 1 }, ticks: { stroke: t.grid, width: 1, size: 4 } };
      const half = 43_200;
      const xs = data[0] as number[];
      return {
        tzDate: (ts: number) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        padding: [12, 8, 0, 4],
        legend: { show: true, live: true },
        cursor: { points: { size: 7 }, drag: { x: false, y: false } },
        scales: {
          x: { time: true, range: () => [(xs[0] ?? 0) - half, (xs[xs.length - 1] ?? 0) + half] },
          usd: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1e-6] },
          req: { range: (_u, _min, max) => [0, max > 0 ? Math.ceil(max * 1.15) : 1] },
        },
        series: [
          {
            label: "Day",
            value: (_u, v) => (v === null ? "—" : new Date(v * 1000).toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" })),
          },
          {
            label: "Spend",
            scale: "usd",
            stroke: t.accent,
            fill: withAlpha(t.accent, t.dark ? 0.55 : 0.45),
            width: 1,
            ...(barsPath ? { paths: barsPath } : {}),
            points: { show: false },
            value: (_u, v) => (v === null ? "—" : formatCost(v)),
          },
          {
            label: "Requests",
            scale: "req",
            stroke: t.info,
            width: 2,
            points: { show: xs.length <= 31, size: 5, fill: t.panel },
            value: (_u, v) => (v === null ? "—" : formatTokens(v)),
          },
        ],
        axes: [
          {
            ...axis,
            space: 64,
            size: 34,
            values: (_u, splits) => splits.map((s) => new Date(s * 1000).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" })),
          },
          { ...axis, scale: "usd", size: 76, values: (_u, splits) => splits.map((s) => formatCost(s)) },
          { ...axis, scale: "req", side: 1, size: 48, grid: { show: false }, values: (_u, splits) => splits.map((s) => (Number.isInteger(s) ? formatTokens(s) : "")) },
        ],
      };
    },
    [data],
  );
  const total = days.reduce((s, d) => s + d.cost_usd, 0);
  const empty = days.every((d) => d.requests === 0);
  return (
    <div className="ins-chart-box" data-testid="daily-chart" data-days={days.length} data-total={total}>
      {empty && <div className="ins-chart-empty muted">No requests in this period.</div>}
      <UPlotChart data={data} options={options} height={240} testId="daily-chart-canvas" label={`Spend per day over ${days.length} days, ${formatCost(total)} in all`} />
    </div>
  );
}

/** Bars for the spend series (uPlot's builder, made once). */
const barsPath = uPlot.paths.bars?.({ size: [0.7, 42], radius: 0.15 }) ?? null;

function GroupCard(props: { title: string; groups: CostGroup[]; total: CostGroup; testId: string; mono?: boolean }) {
  const widths = shares(props.groups.map((g) => g.cost_usd));
  return (
    <InsCard title={props.title} note="most expensive first">
      <div className="ins-table-wrap">
        <table className="ins-table ins-groups" data-testid={props.testId}>
          <thead>
            <tr>
              <th>{props.title.replace(/^By /, "").replace(/^./, (c) => c.toUpperCase())}</th>
              <th className="num">Requests</th>
              <th className="num">Tokens</th>
              <th className="num">Cost</th>
              <th className="ins-bar-col">Share of spend</th>
            </tr>
          </thead>
          <tbody>
            {props.groups.map((g, i) => (
              <tr key={g.key} data-testid="cost-row" data-key={g.key}>
                <td className="ins-key" title={g.key}>
                  {props.mono ? <code>{g.key || "—"}</code> : g.key || <span className="muted">none</span>}
                  {g.cache_hits > 0 && <span className="muted small-text"> · {g.cache_hits} cached</span>}
                </td>
                <td className="num">{formatTokens(g.requests)}</td>
                <td className="num" title={`${formatTokens(g.input_tokens)} in · ${formatTokens(g.output_tokens)} out`}>
                  {formatTokens(tokensOf(g))}
                </td>
                <td className="num" data-testid="cost-value">
                  {formatCost(g.cost_usd)}
                </td>
                <td className="ins-bar-col">
                  <span className="ins-bar-cell">
                    <MeterBar share={widths[i] ?? 0} label={`${g.key}: share of spend`} />
                    <span className="small-text">{formatShare(props.total.cost_usd > 0 ? g.cost_usd / props.total.cost_usd : null)}</span>
                  </span>
                </td>
              </tr>
            ))}
            {props.groups.length === 0 && <EmptyRow cols={5}>No requests in this period.</EmptyRow>}
          </tbody>
        </table>
      </div>
    </InsCard>
  );
}

function TopCard({ groups }: { groups: CostGroup[] }) {
  const byCost = topBy(groups, "cost", 5);
  const byTokens = topBy(groups, "tokens", 5);
  const list = (items: CostGroup[], value: (g: CostGroup) => number, fmt: (n: number) => string, testId: string) => {
    const w = shares(items.map(value));
    return (
      <ol className="ins-top" data-testid={testId}>
        {items.map((g, i) => (
          <li key={g.key}>
            <span className="ins-top-rank">{i + 1}</span>
            <span className="ins-top-name" title={g.key}>
              {g.key}
            </span>
            <MeterBar share={w[i] ?? 0} tone="info" />
            <span className="num">{fmt(value(g))}</span>
          </li>
        ))}
        {items.length === 0 && <li className="muted">No requests in this period.</li>}
      </ol>
    );
  };
  return (
    <InsCard id="top" title="Top workspaces" className="ins-top-card">
      <div className="ins-top-grid">
        <div>
          <h3>By cost</h3>
          {list(byCost, (g) => g.cost_usd, formatCost, "top-by-cost")}
        </div>
        <div>
          <h3>By tokens</h3>
          {list(byTokens, tokensOf, formatTokens, "top-by-tokens")}
        </div>
      </div>
    </InsCard>
  );
}

const LEVEL_TEXT: Record<BudgetBar["level"], string> = { ok: "ok", alert: "past alert", over: "spent", none: "no budget" };

function BudgetsCard({ bars }: { bars: BudgetBar[] }) {
  const day = bars.length > 0 ? "today (UTC)" : "";
  return (
    <InsCard
      id="budgets"
      title={`Budgets ${day}`}
      note={
        <>
          <span className="ins-legend-mark" aria-hidden /> the alert threshold
        </>
      }
    >
      <ul className="ins-budgets" data-testid="budgets">
        {bars.map((b) => (
          <li key={b.workspace} data-testid="budget-row" data-workspace={b.workspace} data-level={b.level}>
            <div className="ins-budget-head">
              <strong>{b.workspace}</strong>
              <span className="muted small-text">
                tier {b.tier}
                {b.ownBudget ? " · own budget" : ""}
              </span>
              <span className="grow" />
              <span className={`ins-level lv-${b.level}`}>{LEVEL_TEXT[b.level]}</span>
            </div>
            <MeterBar
              share={b.used ?? 0}
              tone={b.level === "over" ? "danger" : b.level === "alert" ? "warn" : "ok"}
              marker={b.budgetUsd ? b.alertShare : undefined}
              markerLabel={`alert at ${formatShare(b.alertShare)}`}
              label={`${b.workspace}: budget used`}
            />
            <div className="small-text ins-budget-foot">
              <span data-testid="budget-spent">
                {formatCost(b.spentUsd)} of {b.budgetUsd === null ? "no budget" : formatCost(b.budgetUsd)}
                {b.used !== null && ` (${formatShare(b.used)})`}
              </span>
              <span className="muted">
                alert at {formatShare(b.alertShare)} · {formatTokens(b.tokens)} tokens
                {b.tokenLimit !== null ? ` of ${formatTokens(b.tokenLimit)}` : ""}
              </span>
            </div>
          </li>
        ))}
        {bars.length === 0 && <li className="muted">No workspaces.</li>}
      </ul>
    </InsCard>
  );
}

function AlertsCard({ alerts }: { alerts: BudgetAlert[] }) {
  return (
    <InsCard id="alerts" title="Budget alerts" note="raised when a day's spend passes a workspace's alert share">
      <div className="ins-table-wrap">
        <table className="ins-table" data-testid="alerts-table">
          <thead>
            <tr>
              <th>When</th>
              <th>Workspace</th>
              <th>Day</th>
              <th className="num">Spent</th>
              <th className="num">Budget</th>
              <th className="num">Alert at</th>
            </tr>
          </thead>
          <tbody>
            {alerts.map((a) => (
              <tr key={`${a.workspace_id}-${a.day}-${a.at_ms}`} data-testid="alert-row">
                <td className="ins-nowrap">{formatWhen(a.at_ms)}</td>
                <td>
                  <strong>{a.workspace_id}</strong>
                </td>
                <td>{a.day}</td>
                <td className="num">{formatCost(a.spent_usd)}</td>
                <td className="num">{formatCost(a.budget_usd)}</td>
                <td className="num">{formatShare(a.share)}</td>
              </tr>
            ))}
            {alerts.length === 0 && <EmptyRow cols={6}>No budget alerts raised.</EmptyRow>}
          </tbody>
        </table>
      </div>
    </InsCard>
  );
}
