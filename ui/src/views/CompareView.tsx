import { useCallback, useEffect, useState } from "react";
import { asApiError, localityOf, type ApiError, type Comparison } from "../api/client";
import { useApp, useShortcuts } from "../app/context";
import { AnswerColumn } from "../components/AnswerColumn";
import { AnswerTags } from "../components/AnswerTags";
import { DeleteOrKeep } from "../components/Confirm";
import { ErrorNotice } from "../components/ErrorNotice";
import { Icon } from "../components/Icon";
import { ModelChip, StopButton, TemperatureField } from "../components/RunControls";
import { useAnswerColumns } from "../components/useAnswerColumns";
import { formatCost, formatLatency, formatTokenPair, formatTokensPerSecond, formatWhen } from "../format";
import { keysFor } from "../shortcuts";
import { answerFromMeta, metricsOf, temperatureOf, type AnswerState } from "../state/answer";
import { threadTitle } from "../state/chat";
import {
  MAX_MODELS,
  bestColumns,
  defaultSelection,
  keepSelection,
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
  const { columns, setColumns, running, runAll, stop } = useAnswerColumns(client);
  const [saved, setSaved] = useState<Comparison[]>([]);
  const [savedLoaded, setSavedLoaded] = useState(false);
  const [openedId, setOpenedId] = useState<string | null>(null);
  const [savedRunId, setSavedRunId] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const [opError, setOpError] = useState<ApiError | null>(null);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    setSelected((sel) => keepSelection(sel, models, () => defaultSelection(models)));
  }, [models]);

  const fail = useCallback((e: unknown) => setOpError(asApiError(e)), []);

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
      if (!text.trim() || selectionProblem(ids) !== null || running) return;
      setOpError(null);
      setOpenedId(null);
      setSavedRunId(null);
      const temp = temperatureOf(temperature);
      await runAll(ids, (model) => ({
        model,
        messages: [{ role: "user", content: text }],
        temperature: temp,
        cache: bypassCache ? "bypass" : undefined,
      }));
    },
    [running, temperature, bypassCache, runAll],
  );

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
                <DeleteOrKeep onDelete={() => void remove(c.id)} onKeep={() => setConfirmDelete(null)} />
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
            {models.map((m) => (
              <ModelChip
                key={m.id}
                id={m.id}
                selected={selected}
                max={MAX_MODELS}
                disabled={running}
                onToggle={() => setSelected((sel) => toggleModel(sel, m.id))}
                notes={[m.locality === "on_device" && "on device"]}
              />
            ))}
          </div>
          <div className="compare-bar">
            <TemperatureField value={temperature} onChange={setTemperature} disabled={running} />
            <label className="check" title="Ask every provider afresh (x-hearth-cache: bypass), so the figures measure the models">
              <input type="checkbox" checked={bypassCache} onChange={(e) => setBypassCache(e.target.checked)} disabled={running} />
              Bypass the cache
            </label>
            <span className="muted grow">{problem ?? `${selected.length} models`}</span>
            {running ? (
              <StopButton onStop={stop} testId="compare-stop" title="Stop all (Esc)" />
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
    <AnswerColumn answer={answer} testId="compare-column" textTestId="column-text">
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
    </AnswerColumn>
  );
}
