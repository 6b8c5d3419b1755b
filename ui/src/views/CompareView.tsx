import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, localityOf, type Comparison } from "../api/client";
import { useApp, useShortcuts } from "../app/context";
import { AnswerTags } from "../components/AnswerTags";
import { ErrorNotice } from "../components/ErrorNotice";
import { Icon } from "../components/Icon";
import { formatCost, formatLatency, formatTokenPair, formatTokensPerSecond, formatWhen } from "../format";
import { keysFor } from "../shortcuts";
import { answerFromMeta, metricsOf, runAnswer, type AnswerState } from "../state/answer";
import { threadTitle } from "../state/chat";
import {
  MAX_MODELS,
  bestColumns,
  defaultSelection,
  isRunning,
  resultsOf,
  selectionProblem,
  toggleModel,
  type MetricKey,
} from "../state/compare";

export function CompareView() {
  const { client, models } = useApp();
  const [prompt, setPrompt] = useState("");
  const [selected, setSelected] = useState<string[]>(() => defaultSelection(models));
  const [temperature, setTemperature] = useState("0");
  const [bypassCache, setBypassCache] = useState(true);
  const [columns, setColumns] = useState<AnswerState[]>([]);
  const [saved, setSaved] = useState<Comparison[]>([]);
  const [savedLoaded, setSavedLoaded] = useState(false);
  const [openedId, setOpenedId] = useState<string | null>(null);
  const [savedRunId, setSavedRunId] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const [opError, setOpError] = useState<ApiError | null>(null);
  const [saving, setSaving] = useState(false);
  const controllers = useRef<AbortController[]>([]);
  const running = isRunning(columns);

  useEffect(() => {
    setSelected((sel) => {
      const kept = sel.filter((id) => models.some((m) => m.id === id));
      return kept.length > 0 ? kept : defaultSelection(models);
    });
  }, [models]);

  const fail = useCallback((e: unknown) => {
    setOpError(e instanceof ApiError ? e : new ApiError({ status: 0, code: "client_error", message: String(e) }));
  }, []);

  const loadSaved = useCallback(async () => {
    try {
      setSaved(await client.comparisons());
      setSavedLoaded(true);
    } catch (e) {
      fail(e);
    }
  }, [client, fail]);

  useEffect(() => {
    void loadSaved();
  }, [loadSaved]);

  const run = useCallback(
    async (text: string, ids: string[]) => {
      if (!text.trim() || selectionProblem(ids) !== null || isRunning(columns)) return;
      setOpError(null);
      setOpenedId(null);
      setSavedRunId(null);
      const t = Number(temperature);
      const acs = ids.map(() => new AbortController());
      controllers.current = acs;
      setColumns(ids.map((id) => ({ ...answerFromMeta("", null, id), status: "waiting" as const })));
      await Promise.all(
        ids.map((model, i) =>
          runAnswer(
            client,
            {
              model,
              messages: [{ role: "user", content: text }],
              temperature: Number.isFinite(t) ? t : undefined,
              cache: bypassCache ? "bypass" : undefined,
            },
            acs[i]!.signal,
            (s) => setColumns((cols) => cols.map((c, j) => (j === i ? s : c))),
          ),
        ),
      );
      controllers.current = [];
    },
    [client, columns, temperature, bypassCache],
  );

  const stop = useCallback(() => {
    for (const ac of controllers.current) ac.abort();
  }, []);

  const save = async () => {
    if (columns.length === 0 || running) return;
    setSaving(true);
    try {
      const c = await client.saveComparison({
        title: threadTitle(prompt),
        prompt,
        models: columns.map((c) => c.requestedModel),
        results: resultsOf(columns, models),
      });
      setSavedRunId(c.id);
      await loadSaved();
    } catch (e) {
      fail(e);
    } finally {
      setSaving(false);
    }
  };

  const open = async (id: string) => {
    if (running) return;
    setOpError(null);
    setConfirmDelete(null);
    try {
      const c = await client.comparison(id);
      setOpenedId(id);
      setSavedRunId(id);
      setPrompt(c.prompt);
      setSelected(c.models);
      setColumns(
        c.models.map((m, i) => {
          const r = c.results[i];
          return answerFromMeta(r?.content ?? "", r ?? null, m);
        }),
      );
    } catch (e) {
      fail(e);
    }
  };

  const remove = async (id: string) => {
    setConfirmDelete(null);
    try {
      await client.deleteComparison(id);
      setSaved((prev) => prev.filter((c) => c.id !== id));
      if (openedId === id) setOpenedId(null);
    } catch (e) {
      fail(e);
    }
  };

  useShortcuts({ send: () => void run(prompt, selected), stop });

  const problem = selectionProblem(selected);
  const finished = columns.length > 0 && !running && columns.some((c) => c.status === "done");
  const best: Record<MetricKey, Set<number>> = {
    latencyMs: bestColumns(columns, "latencyMs"),
    ttftMs: bestColumns(columns, "ttftMs"),
    tokensPerSecond: bestColumns(columns, "tokensPerSecond"),
    costUsd: bestColumns(columns, "costUsd"),
  };

  return (
    <div className="compare-view">
      <aside className="side-list" aria-label="Saved comparisons">
        <div className="side-list-head">
          <h3>Saved comparisons</h3>
        </div>
        <ul className="side-items" data-testid="comparison-list">
          {saved.map((c) => (
            <li key={c.id} className={c.id === openedId ? "active" : ""} data-testid="comparison-item">
              <button className="side-item-main" onClick={() => void open(c.id)} title={c.prompt}>
                <span className="side-item-title">{c.title || threadTitle(c.prompt)}</span>
                <span className="side-item-sub">
                  {c.models.length} models · {formatWhen(c.created_at_ms)}
                </span>
              </button>
              {confirmDelete === c.id ? (
                <span className="side-item-actions visible">
                  <button className="danger small" onClick={() => void remove(c.id)}>
                    Delete
                  </button>
                  <button className="small" onClick={() => setConfirmDelete(null)}>
                    Keep
                  </button>
                </span>
              ) : (
                <span className="side-item-actions">
                  <button
                    className="icon-button"
                    title="Run again"
                    aria-label="Run again"
                    data-testid="rerun-comparison"
                    disabled={running}
                    onClick={() => {
                      setPrompt(c.prompt);
                      setSelected(c.models);
                      void run(c.prompt, c.models);
                    }}
                  >
                    <Icon name="rerun" />
                  </button>
                  <button className="icon-button" title="Delete" aria-label="Delete" onClick={() => setConfirmDelete(c.id)}>
                    <Icon name="trash" />
                  </button>
                </span>
              )}
            </li>
          ))}
          {savedLoaded && saved.length === 0 && <li className="side-empty">Nothing saved yet.</li>}
        </ul>
      </aside>

      <section className="compare-main">
        <div className="compare-form">
          <textarea
            value={prompt}
            onChange={(e) => setPrompt(e.target.value)}
            placeholder={`One prompt for every model (${keysFor("send")} to run)`}
            rows={3}
            data-testid="compare-prompt"
            aria-label="Prompt"
          />
          <div className="compare-models" data-testid="compare-models">
            <span className="label">Models</span>
            {models.map((m) => {
              const on = selected.includes(m.id);
              const full = !on && selected.length >= MAX_MODELS;
              return (
                <label key={m.id} className={`chip ${on ? "on" : ""} ${full ? "full" : ""}`} title={full ? `At most ${MAX_MODELS}` : m.id}>
                  <input
                    type="checkbox"
                    checked={on}
                    disabled={running || full}
                    onChange={() => setSelected((sel) => toggleModel(sel, m.id))}
                    data-model={m.id}
                  />
                  {m.id}
                  {m.locality === "on_device" && <span className="chip-note">on device</span>}
                </label>
              );
            })}
          </div>
          <div className="compare-bar">
            <label className="temp">
              <span>Temperature</span>
              <input
                type="number"
                min={0}
                max={2}
                step={0.1}
                value={temperature}
                onChange={(e) => setTemperature(e.target.value)}
                disabled={running}
              />
            </label>
            <label className="check" title="Ask every provider afresh (x-hearth-cache: bypass), so the figures measure the models">
              <input type="checkbox" checked={bypassCache} onChange={(e) => setBypassCache(e.target.checked)} disabled={running} />
              Bypass the cache
            </label>
            <span className="muted grow">{problem ?? `${selected.length} models`}</span>
            {running ? (
              <button className="danger" onClick={stop} data-testid="compare-stop" title="Stop all (Esc)">
                <Icon name="stop" size={14} /> Stop
              </button>
            ) : (
              <button
                className="primary"
                onClick={() => void run(prompt, selected)}
                disabled={!prompt.trim() || problem !== null}
                data-testid="compare-run"
                title={`Run (${keysFor("send")})`}
              >
                Run
              </button>
            )}
            <button
              onClick={() => void save()}
              disabled={!finished || saving || savedRunId !== null}
              data-testid="compare-save"
              title={savedRunId !== null ? "This run is saved" : "Save the prompt, the models and the answers"}
            >
              {savedRunId !== null ? "Saved" : "Save"}
            </button>
          </div>
        </div>

        {opError && <ErrorNotice error={opError} onDismiss={() => setOpError(null)} />}
        {openedId && <div className="notice">A saved comparison: these are the answers as they were. Run to ask again.</div>}

        {columns.length === 0 ? (
          <div className="empty-state">
            <h2>Compare models</h2>
            <p>
              Send one prompt to two to four models at once and see them stream side by side, with latency, time to
              first token, tokens per second, tokens and cost for each.
            </p>
          </div>
        ) : (
          <div className={`columns cols-${columns.length}`} data-testid="compare-columns">
            {columns.map((a, i) => (
              <CompareColumn key={`${a.requestedModel}-${i}`} answer={a} index={i} best={best} locality={localityOf(models, a.model ?? a.requestedModel)} />
            ))}
          </div>
        )}
      </section>
    </div>
  );
}

function CompareColumn({
  answer,
  index,
  best,
  locality,
}: {
  answer: AnswerState;
  index: number;
  best: Record<MetricKey, Set<number>>;
  locality: ReturnType<typeof localityOf>;
}) {
  const m = metricsOf(answer);
  const cell = (key: MetricKey, text: string) => (
    <td className={best[key].has(index) ? "best" : ""} data-testid={`metric-${key}`}>
      {text}
    </td>
  );
  return (
    <div className={`column status-${answer.status}`} data-testid="compare-column" data-status={answer.status}>
      <div className="column-head">
        <span className="column-model" title={answer.requestedModel}>
          {answer.requestedModel}
        </span>
        <span className={`status-dot status-${answer.status}`} title={answer.status}>
          {answer.status}
        </span>
      </div>
      <table className="metrics">
        <tbody>
          <tr>
            <th>Latency</th>
            {cell("latencyMs", formatLatency(m.latencyMs))}
          </tr>
          <tr>
            <th>First token</th>
            {cell("ttftMs", formatLatency(m.ttftMs))}
          </tr>
          <tr>
            <th>Speed</th>
            {cell("tokensPerSecond", formatTokensPerSecond(m.tokensPerSecond))}
          </tr>
          <tr>
            <th>Tokens</th>
            <td data-testid="metric-tokens">{formatTokenPair(m.inputTokens, m.outputTokens)}</td>
          </tr>
          <tr>
            <th>Cost</th>
            {cell("costUsd", formatCost(m.costUsd))}
          </tr>
        </tbody>
      </table>
      <AnswerTags answer={answer} locality={locality} metrics={false} />
      {answer.error && <ErrorNotice error={answer.error} />}
      <div className="column-text" data-testid="column-text">
        {answer.text}
        {answer.status === "waiting" && <span className="typing" aria-label="waiting for the first token" />}
        {answer.status === "streaming" && <span className="cursor" />}
      </div>
    </div>
  );
}
