import { useCallback, useRef, useState } from "react";
import type { ChatStreamRequest, HearthClient } from "../api/client";
import { answerFromMeta, runAnswer, type AnswerState } from "../state/answer";
import { isRunning } from "../state/compare";

/**
 * Answers side by side (Compare, the prompt playground): `runAll` streams one request a
 * model, each into its own column, all at once; `stop` aborts every one still running.
 */
export function useAnswerColumns(client: Pick<HearthClient, "streamChat">) {
  const [columns, setColumns] = useState<AnswerState[]>([]);
  const controllers = useRef<AbortController[]>([]);

  const runAll = useCallback(
    async (models: string[], request: (model: string) => ChatStreamRequest) => {
      const acs = models.map(() => new AbortController());
      controllers.current = acs;
      setColumns(models.map((id) => ({ ...answerFromMeta("", null, id), status: "waiting" as const })));
      await Promise.all(
        models.map((model, i) =>
          runAnswer(client, request(model), acs[i]!.signal, (s) => setColumns((cols) => cols.map((c, j) => (j === i ? s : c)))),
        ),
      );
      controllers.current = [];
    },
    [client],
  );

  const stop = useCallback(() => {
    for (const ac of controllers.current) ac.abort();
  }, []);

  return { columns, setColumns, running: isRunning(columns), runAll, stop };
}
