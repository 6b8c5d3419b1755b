import type { AnswerState } from "../state/answer";
import { metricsOf } from "../state/answer";
import type { Locality } from "../api/client";
import { formatCost, formatLatency, formatTokenPair, formatTokensPerSecond } from "../format";

/** The tags under an answer: who answered, where, from cache or not, what it cost. */
/**
 * `metrics={false}` leaves out tokens, cost and latency (Compare shows them in its table)
 * and the model when the column already names it.
 */
export function AnswerTags({
  answer,
  locality,
  metrics = true,
}: {
  answer: AnswerState;
  locality: Locality | undefined;
  metrics?: boolean;
}) {
  const m = metricsOf(answer);
  const live = answer.status === "waiting" || answer.status === "streaming";
  const routed = answer.requestedModel.startsWith("hearth/");
  return (
    <div className="tags" data-testid="answer-tags">
      {answer.model && (metrics || answer.model !== answer.requestedModel) && (
        <span className="tag tag-model" data-testid="tag-model" title={routed ? `routed by ${answer.requestedModel}` : "chosen model"}>
          {answer.model}
        </span>
      )}
      {!answer.model && !live && metrics && answer.requestedModel && (
        <span className="tag tag-model" title="asked for; no model had answered yet">
          {answer.requestedModel}
        </span>
      )}
      {answer.provider && (
        <span className="tag" data-testid="tag-provider" title="provider">
          {answer.provider}
        </span>
      )}
      {locality && (
        <span className={`tag ${locality === "on_device" ? "tag-local" : "tag-hosted"}`} data-testid="tag-locality">
          {locality === "on_device" ? "on device" : "hosted"}
        </span>
      )}
      {answer.promptId && (
        <span className="tag tag-prompt" data-testid="tag-prompt" title="the prompt version the server used">
          {answer.promptId}
          {answer.promptVersion ? ` ${answer.promptVersion}` : ""}
        </span>
      )}
      {answer.cacheHit === true && (
        <span className="tag tag-cache" data-testid="tag-cache" title="answered from the exact cache">
          cache hit
        </span>
      )}
      {answer.fallbackUsed === true && (
        <span className="tag tag-warn" data-testid="tag-fallback" title="the first candidate failed; another model answered">
          fallback
        </span>
      )}
      {answer.retryCount !== null && answer.retryCount > 0 && (
        <span className="tag tag-warn" data-testid="tag-retries">
          {answer.retryCount} {answer.retryCount === 1 ? "retry" : "retries"}
        </span>
      )}
      {answer.status === "stopped" && (
        <span className="tag tag-warn" data-testid="tag-stopped">
          stopped
        </span>
      )}
      {!live && metrics && (
        <>
          {(m.inputTokens !== null || m.outputTokens !== null) && (
            <span className="tag tag-metric" data-testid="tag-tokens" title="tokens">
              {formatTokenPair(m.inputTokens, m.outputTokens)}
            </span>
          )}
          {m.costUsd !== null && (
            <span className="tag tag-metric" data-testid="tag-cost" title="estimated cost">
              {formatCost(m.costUsd)}
            </span>
          )}
          <span
            className="tag tag-metric"
            data-testid="tag-latency"
            title={`time to first token ${formatLatency(m.ttftMs)} · ${formatTokensPerSecond(m.tokensPerSecond)}${
              answer.serverLatencyMs !== null ? ` · gateway ${formatLatency(answer.serverLatencyMs)}` : ""
            }`}
          >
            {formatLatency(m.latencyMs)}
          </span>
        </>
      )}
      {answer.traceId && !live && !answer.error && (
        <span className="tag tag-trace" title={`trace id ${answer.traceId}`}>
          trace {answer.traceId.slice(0, 8)}
        </span>
      )}
    </div>
  );
}
