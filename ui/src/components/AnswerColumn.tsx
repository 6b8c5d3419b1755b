import type { ReactNode } from "react";
import type { AnswerState } from "../state/answer";
import { ErrorNotice } from "./ErrorNotice";

/** One answer of several side by side: the model and its status, `children` (metrics, tags), the error, the text as it streams. */
export function AnswerColumn({
  answer,
  testId,
  textTestId,
  children,
}: {
  answer: AnswerState;
  testId: string;
  textTestId: string;
  children: ReactNode;
}) {
  return (
    <div className={`column status-${answer.status}`} data-testid={testId} data-status={answer.status}>
      <div className="column-head">
        <span className="column-model" title={answer.requestedModel}>
          {answer.requestedModel}
        </span>
        <span className={`status-dot status-${answer.status}`} title={answer.status}>
          {answer.status}
        </span>
      </div>
      {children}
      {answer.error && <ErrorNotice error={answer.error} />}
      <div className="column-text" data-testid={textTestId}>
        {answer.text}
        {answer.status === "waiting" && <span className="typing" aria-label="waiting for the first token" />}
        {answer.status === "streaming" && <span className="cursor" />}
      </div>
    </div>
  );
}
