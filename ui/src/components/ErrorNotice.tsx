import { answerErrorOf, candidateText, type AnswerError } from "../state/answer";
import { ApiError } from "../api/client";
import { Icon } from "./Icon";
import { formatLatency } from "../format";

/** The server's code and message, as it sent them, with the trace id to quote. */
export function ErrorNotice({ error, onDismiss }: { error: AnswerError | ApiError; onDismiss?: () => void }) {
  const e: AnswerError = error instanceof ApiError ? answerErrorOf(error) : error;
  return (
    <div className="error-notice" role="alert" data-testid="error" data-code={e.code}>
      <div className="error-head">
        <code className="error-code">{e.code}</code>
        {e.status > 0 && !e.midStream && <span className="error-status">HTTP {e.status}</span>}
        {e.midStream && <span className="error-status">after the answer had started</span>}
        {onDismiss && (
          <button className="icon-button" onClick={onDismiss} aria-label="Dismiss" title="Dismiss">
            <Icon name="close" size={14} />
          </button>
        )}
      </div>
      <div className="error-message">{e.message}</div>
      {e.candidates && e.candidates.length > 0 && (
        <ul className="error-candidates" data-testid="error-candidates">
          {e.candidates.map((c, i) => (
            <li key={i} data-model={c.model} data-outcome={c.outcome}>
              <code>{c.model}</code> {candidateText(c)}
            </li>
          ))}
        </ul>
      )}
      {(e.retryAfterS !== undefined || e.traceId) && (
        <div className="error-foot">
          {e.retryAfterS !== undefined && <span>Retry after {formatLatency(e.retryAfterS * 1000)}</span>}
          {e.traceId && (
            <span>
              trace <code>{e.traceId}</code>
            </span>
          )}
        </div>
      )}
    </div>
  );
}
