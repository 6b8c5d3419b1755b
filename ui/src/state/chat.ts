// Chat helpers with no React in them: what is sent as history, how a thread is named.

import type { ChatMessage, ThreadMessage } from "../api/client";

/**
 * The messages sent to the model: the thread so far, without failed answers and without
 * empty ones (an answer stopped before its first token). A stopped answer's partial text
 * stays: the user saw it and may refer to it.
 */
export function historyOf(messages: ThreadMessage[]): ChatMessage[] {
  return messages
    .filter((m) => m.content.trim() !== "" && !(m.role === "assistant" && m.meta?.error))
    .map((m) => ({ role: m.role, content: m.content }));
}

/** A thread's title from its first message: the first line, at most 48 characters. */
export function threadTitle(text: string, max = 48): string {
  const line = text.trim().split(/\r?\n/, 1)[0]?.trim() ?? "";
  if (!line) return "New chat";
  const chars = Array.from(line);
  if (chars.length <= max) return line;
  const cut = chars.slice(0, max - 1).join("");
  const space = cut.lastIndexOf(" ");
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
