import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { listPrompts, type PromptVersion } from "../api/admin";
import {
  asApiError,
  localityOf,
  tasksOf,
  type ApiError,
  type ChatMessage,
  type Locality,
  type Thread,
  type ThreadMessage,
} from "../api/client";
import { useApp, useShortcuts } from "../app/context";
import { AnswerTags } from "../components/AnswerTags";
import { DeleteOrKeep } from "../components/Confirm";
import { ErrorNotice } from "../components/ErrorNotice";
import { Field } from "../components/Field";
import { Icon } from "../components/Icon";
import { CopyButton, Markdown } from "../components/Markdown";
import { needsAdmin } from "../components/AdminNotice";
import { ModelPicker, ROUTER, requestModel } from "../components/ModelPicker";
import { PromptPicker } from "../components/PromptPicker";
import { StopButton, TemperatureField } from "../components/RunControls";
import { formatWhen } from "../format";
import { keysFor } from "../shortcuts";
import { answerFromMeta, metaOf, runAnswer, type AnswerState } from "../state/answer";
import { loadSettings, samplingOf, saveSettings, withSystem, type ChatSettings } from "../state/chatSettings";
import { historyOf, threadTitle } from "../state/chat";
import { NO_PROMPT, chatPromptMetadata, groupPrompts, keepPick, type PromptPick } from "../state/prompts";

interface Pending {
  threadId: string;
  answer: AnswerState;
  /** The answer ended but is not in the thread: neither the server nor the page could save it. */
  unsaved?: boolean;
}

function defaultTask(tasks: string[]): string {
  return tasks.includes("chat") ? "chat" : (tasks[0] ?? "");
}

export function ChatView({ newChatSignal }: { newChatSignal: number }) {
  const { client, session, models } = useApp();
  const tasks = tasksOf(models);
  const workspace = client.workspace ?? session.workspace;

  const [query, setQuery] = useState("");
  const [threads, setThreads] = useState<Thread[]>([]);
  const [threadsLoaded, setThreadsLoaded] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [messages, setMessages] = useState<ThreadMessage[]>([]);
  const [pending, setPending] = useState<Pending | null>(null);
  const [opError, setOpError] = useState<ApiError | null>(null);
  const [draft, setDraft] = useState("");
  const [task, setTask] = useState(() => defaultTask(tasks));
  const [picked, setPicked] = useState(ROUTER);
  const [settings, setSettingsState] = useState<ChatSettings>(() => loadSettings(localStorage, null));
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [settingsErrors, setSettingsErrors] = useState<Record<string, string>>({});
  // The registry's prompts (admin API); null hides the picker (a user key may not list them).
  const [prompts, setPrompts] = useState<PromptVersion[] | null>(null);
  const [promptPick, setPromptPick] = useState<PromptPick>(NO_PROMPT);
  const promptGroups = useMemo(() => groupPrompts(prompts ?? []), [prompts]);
  const [renaming, setRenaming] = useState<{ id: string; title: string } | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);

  const abortRef = useRef<AbortController | null>(null);
  const selectedRef = useRef<string | null>(null);
  selectedRef.current = selected;
  const transcriptRef = useRef<HTMLDivElement>(null);
  const composerRef = useRef<HTMLTextAreaElement>(null);

  const streaming = pending !== null && (pending.answer.status === "waiting" || pending.answer.status === "streaming");

  // The task list arrives with the models (and changes with the workspace).
  useEffect(() => {
    if (!tasks.includes(task)) setTask(defaultTask(tasks));
    if (picked !== ROUTER && !models.some((m) => m.id === picked)) setPicked(ROUTER);
  }, [models]); // Only when the models change: a user's pick stays otherwise.

  const fail = useCallback((e: unknown) => setOpError(asApiError(e)), []);

  // The prompts of the acting workspace; a pick that is gone there falls back to none/routed.
  useEffect(() => {
    if (session.role !== "admin") {
      setPrompts(null);
      return;
    }
    let live = true;
    listPrompts(client, workspace).then(
      (list) => {
        if (!live) return;
        setPrompts(list);
        setPromptPick((p) => keepPick(groupPrompts(list), p));
      },
      (e: unknown) => {
        if (!live) return;
        setPrompts(null);
        setPromptPick(NO_PROMPT);
        if (!needsAdmin(e)) fail(e);
      },
    );
    return () => {
      live = false;
    };
  }, [client, workspace, session.role, fail]);

  // Answers may come back out of order while the user types: only the latest counts.
  const loadSeq = useRef(0);
  const loadThreads = useCallback(
    async (q: string) => {
      const seq = ++loadSeq.current;
      try {
        const list = await client.threads(q);
        if (seq !== loadSeq.current) return;
        setThreads(list);
        setThreadsLoaded(true);
      } catch (e) {
        if (seq === loadSeq.current) fail(e);
      }
    },
    [client, fail],
  );

  // Search as the user types (debounced); the first load at once.
  useEffect(() => {
    const t = window.setTimeout(() => void loadThreads(query), query ? 250 : 0);
    return () => window.clearTimeout(t);
  }, [query, loadThreads]);

  // A change is kept for the thread at once (and as the next new chat's starting point).
  const setSettings = (change: Partial<ChatSettings>) => {
    const next = { ...settings, ...change };
    setSettingsState(next);
    setSettingsErrors({});
    saveSettings(localStorage, selectedRef.current, next);
  };

  const openThread = useCallback(
    async (id: string) => {
      setSelected(id);
      setSettingsState(loadSettings(localStorage, id));
      setSettingsErrors({});
      setConfirmDelete(null);
      setMessages([]);
      try {
        const msgs = await client.messages(id);
        if (selectedRef.current === id) setMessages(msgs);
      } catch (e) {
        fail(e);
      }
    },
    [client, fail],
  );

  const newChat = useCallback(() => {
    setSelected(null);
    setSettingsState(loadSettings(localStorage, null));
    setSettingsErrors({});
    setMessages([]);
    setOpError(null);
    setConfirmDelete(null);
    composerRef.current?.focus();
  }, []);

  useEffect(() => {
    if (newChatSignal > 0) newChat();
  }, [newChatSignal, newChat]);

  const stop = useCallback(() => {
    abortRef.current?.abort();
  }, []);

  // Every outcome is kept with the thread. A completed answer the server saved as it ended;
  // a stopped one (meta.stopped) or the server's error (meta.error, left out of the history
  // sent to the model) the page saves. What neither could save stays on screen, flagged.
  const keep = useCallback(
    async (tid: string, final: AnswerState) => {
      const meta = metaOf(final, localityOf(models, final.model), task);
      let saved: ThreadMessage | null =
        final.savedMessageId !== null
          ? { id: final.savedMessageId, role: "assistant", content: final.text, meta, created_at_ms: Date.now() }
          : null;
      if (saved === null) {
        try {
          saved = await client.addMessage(tid, { role: "assistant", content: final.text, meta });
        } catch (e) {
          fail(e);
          setPending((p) => (p && p.threadId === tid && p.answer === final ? { ...p, unsaved: true } : p));
          return;
        }
      }
      const kept = saved;
      if (selectedRef.current === tid) setMessages((prev) => [...prev, kept]);
      setPending((p) => (p && p.threadId === tid && p.answer === final ? null : p));
    },
    [client, models, task, fail],
  );

  const send = useCallback(async () => {
    const text = draft.trim();
    if (!text || streaming) return;
    if (!task && picked === ROUTER) return;
    const sampling = samplingOf(settings);
    if ("errors" in sampling) {
      setSettingsErrors(sampling.errors);
      setSettingsOpen(true);
      return;
    }
    const { system, ...params } = sampling.ok;
    setOpError(null);
    const model = requestModel(task, picked);
    const metadata = chatPromptMetadata(promptGroups, promptPick);
    let threadId = selected;
    let history = messages;
    try {
      if (threadId === null) {
        const t = await client.createThread(threadTitle(text));
        threadId = t.id;
        history = [];
        // Listed at once: the list must not say "No threads yet" while the first answer streams.
        setThreads((prev) => [t, ...prev.filter((x) => x.id !== t.id)]);
        saveSettings(localStorage, t.id, settings);
        setSelected(t.id);
        selectedRef.current = t.id;
        setMessages([]);
      } else {
        const current = threads.find((t) => t.id === threadId);
        if (current && messages.length === 0 && current.title === "New chat") {
          await client.renameThread(threadId, threadTitle(text));
        }
      }
      const userMsg = await client.addMessage(threadId, { role: "user", content: text });
      history = [...history, userMsg];
      if (selectedRef.current === threadId) setMessages(history);
      setDraft("");
    } catch (e) {
      fail(e);
      return;
    }
    const wire: ChatMessage[] = withSystem(historyOf(history), system);
    const ac = new AbortController();
    abortRef.current = ac;
    const tid = threadId;
    const final = await runAnswer(
      client,
      {
        model,
        messages: wire,
        task,
        ...params,
        threadId: tid,
        ...(metadata ? { metadata } : {}),
      },
      ac.signal,
      (answer) => setPending({ threadId: tid, answer }),
    );
    abortRef.current = null;
    await keep(tid, final);
    void loadThreads(query);
  }, [draft, streaming, task, picked, settings, promptGroups, promptPick, selected, messages, threads, client, fail, loadThreads, query, keep]);

  useShortcuts({ send: () => void send(), stop });

  const rename = async (id: string, title: string) => {
    setRenaming(null);
    const t = title.trim();
    if (!t) return;
    try {
      await client.renameThread(id, t);
      setThreads((prev) => prev.map((x) => (x.id === id ? { ...x, title: t } : x)));
    } catch (e) {
      fail(e);
    }
  };

  const remove = async (id: string) => {
    setConfirmDelete(null);
    try {
      await client.deleteThread(id);
      setThreads((prev) => prev.filter((x) => x.id !== id));
      if (selected === id) newChat();
    } catch (e) {
      fail(e);
    }
  };

  // Keep the newest text in view while it streams.
  useLayoutEffect(() => {
    const el = transcriptRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages, pending]);

  const shownPending = pending && pending.threadId === selected ? pending : null;

  // The page title names the thread, so tabs and window lists tell threads apart.
  const selectedTitle = threads.find((t) => t.id === selected)?.title;
  useEffect(() => {
    document.title = selectedTitle ? `${selectedTitle} · Chat · Hearth` : "Chat · Hearth";
  }, [selectedTitle]);

  return (
    <div className="chat-view">
      <aside className="side-list" aria-label="Threads">
        <div className="side-list-head">
          <button className="primary wide" onClick={newChat} data-testid="new-chat" title={`New chat (${keysFor("new-chat")})`}>
            New chat
          </button>
          <input
            type="search"
            placeholder="Search threads"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            data-testid="thread-search"
            aria-label="Search threads"
          />
        </div>
        <ul className="side-items" data-testid="thread-list">
          {threads.map((t) => (
            <li key={t.id} className={t.id === selected ? "active" : ""} data-testid="thread-item">
              {renaming?.id === t.id ? (
                <form
                  className="rename-form"
                  onSubmit={(e) => {
                    e.preventDefault();
                    void rename(t.id, renaming.title);
                  }}
                >
                  <input
                    autoFocus
                    value={renaming.title}
                    onChange={(e) => setRenaming({ id: t.id, title: e.target.value })}
                    onBlur={() => void rename(t.id, renaming.title)}
                    onKeyDown={(e) => {
                      if (e.key === "Escape") {
                        e.stopPropagation();
                        setRenaming(null);
                      }
                    }}
                    aria-label="Thread title"
                    data-testid="rename-input"
                  />
                </form>
              ) : (
                <button className="side-item-main" onClick={() => void openThread(t.id)} title={t.title}>
                  <span className="side-item-title">{t.title}</span>
                  <span className="side-item-sub">{formatWhen(t.updated_at_ms)}</span>
                </button>
              )}
              {confirmDelete === t.id ? (
                <DeleteOrKeep onDelete={() => void remove(t.id)} onKeep={() => setConfirmDelete(null)} testId="confirm-delete" />
              ) : (
                renaming?.id !== t.id && (
                  <span className="side-item-actions">
                    <button
                      className="icon-button"
                      title="Rename"
                      aria-label="Rename"
                      data-testid="rename-thread"
                      onClick={() => setRenaming({ id: t.id, title: t.title })}
                    >
                      <Icon name="pencil" />
                    </button>
                    <button
                      className="icon-button"
                      title="Delete"
                      aria-label="Delete"
                      data-testid="delete-thread"
                      onClick={() => setConfirmDelete(t.id)}
                    >
                      <Icon name="trash" />
                    </button>
                  </span>
                )
              )}
            </li>
          ))}
          {threadsLoaded && threads.length === 0 && (
            <li className="side-empty">{query ? "No thread matches." : "No threads yet. Your chats are kept here."}</li>
          )}
        </ul>
      </aside>

      <section className="chat-main">
        <div className="transcript" ref={transcriptRef} data-testid="transcript">
          {messages.length === 0 && !shownPending && (
            <div className="empty-state">
              <h2>Ask anything</h2>
              <p>
                Every answer is tagged with the model and provider that gave it, whether it ran on this device, came
                from the cache or needed a fallback, and its tokens, cost and latency.
              </p>
              <p className="muted">
                Enter sends · Shift+Enter starts a new line · Esc stops · {keysFor("new-chat")} starts a new chat
              </p>
            </div>
          )}
          {messages.map((m) =>
            m.role === "user" ? (
              <div key={m.id} className="msg msg-user" data-testid="msg-user">
                <div className="msg-body">{m.content}</div>
                <div className="msg-actions">
                  <CopyButton text={m.content} label="Copy message" testId="copy-message" />
                </div>
              </div>
            ) : (
              <AssistantMessage key={m.id} answer={answerFromMeta(m.content, m.meta)} locality={m.meta?.locality} />
            ),
          )}
          {shownPending && (
            <AssistantMessage
              answer={shownPending.answer}
              locality={localityOf(models, shownPending.answer.model)}
              live
            />
          )}
          {shownPending?.unsaved && (
            <div className="notice warn-notice" role="alert" data-testid="unsaved">
              This answer is not saved in the thread and will be gone when you leave it.{" "}
              <button type="button" onClick={() => void keep(shownPending.threadId, shownPending.answer)} data-testid="save-again">
                Save again
              </button>
            </div>
          )}
        </div>

        {opError && <ErrorNotice error={opError} onDismiss={() => setOpError(null)} />}

        <div className="composer">
          {settingsOpen && (
            <SettingsDrawer
              settings={settings}
              errors={settingsErrors}
              onChange={setSettings}
              disabled={streaming}
            />
          )}
          <textarea
            ref={composerRef}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={(e) => {
              // Enter sends, as in every chat app; Shift+Enter is a new line, and Enter that
              // ends an input method's composition is not a send.
              if (e.key === "Enter" && !e.shiftKey && !e.ctrlKey && !e.metaKey && !e.nativeEvent.isComposing) {
                e.preventDefault();
                void send();
              }
            }}
            placeholder="Message Hearth (Enter to send, Shift+Enter for a new line)"
            rows={3}
            data-testid="composer"
            aria-label="Message"
          />
          <div className="composer-bar">
            <ModelPicker
              models={models}
              task={task}
              model={picked}
              onTask={setTask}
              onModel={setPicked}
              disabled={streaming}
            />
            <TemperatureField
              value={settings.temperature}
              onChange={(temperature) => setSettings({ temperature })}
              disabled={streaming}
              testId="temperature"
            />
            <button
              type="button"
              className={settingsOpen ? "active" : ""}
              onClick={() => setSettingsOpen((o) => !o)}
              aria-expanded={settingsOpen}
              aria-controls="chat-settings"
              data-testid="settings-toggle"
            >
              Settings
            </button>
            {prompts !== null && prompts.length > 0 && (
              <PromptPicker groups={promptGroups} pick={promptPick} onPick={setPromptPick} disabled={streaming} />
            )}
            <div className="composer-actions">
              {streaming ? (
                <StopButton onStop={stop} testId="stop" title="Stop (Esc)" />
              ) : (
                <button
                  className="primary"
                  onClick={() => void send()}
                  disabled={!draft.trim() || (!task && picked === ROUTER)}
                  data-testid="send"
                  title={`Send (${keysFor("send")})`}
                >
                  Send
                </button>
              )}
            </div>
          </div>
        </div>
      </section>
    </div>
  );
}

function AssistantMessage({
  answer,
  locality,
  live = false,
}: {
  answer: AnswerState;
  locality: Locality | undefined;
  live?: boolean;
}) {
  const waiting = answer.status === "waiting";
  return (
    <div className={`msg msg-assistant status-${answer.status}`} data-testid="msg-assistant" data-status={answer.status}>
      <div className="msg-body">
        {answer.text && <Markdown text={answer.text} />}
        {waiting && <span className="typing" aria-label="waiting for the first token" />}
        {live && answer.status === "streaming" && <span className="cursor" />}
        {!answer.text && answer.status === "stopped" && <span className="muted">(stopped before the first token)</span>}
      </div>
      {answer.error && <ErrorNotice error={answer.error} />}
      <AnswerTags answer={answer} locality={locality} />
      {!live && answer.text && (
        <div className="msg-actions">
          <CopyButton text={answer.text} label="Copy answer (Markdown)" testId="copy-answer" />
        </div>
      )}
    </div>
  );
}

/** The thread's sampling settings and system prompt, beside the composer. */
function SettingsDrawer({
  settings,
  errors,
  onChange,
  disabled,
}: {
  settings: ChatSettings;
  errors: Record<string, string>;
  onChange: (change: Partial<ChatSettings>) => void;
  disabled: boolean;
}) {
  const input = (key: "topP" | "maxTokens" | "seed", placeholder: string) => (
    <input
      value={settings[key]}
      onChange={(e) => onChange({ [key]: e.target.value })}
      placeholder={placeholder}
      inputMode="decimal"
      disabled={disabled}
      data-testid={`setting-${key}`}
    />
  );
  return (
    <fieldset className="chat-settings" id="chat-settings" aria-label="Settings of this thread" data-testid="chat-settings">
      <Field label="Top p" error={errors.topP} hint="0 to 1; empty: the model's default">
        {input("topP", "1")}
      </Field>
      <Field label="Max tokens" error={errors.maxTokens} hint="empty: the route's limit">
        {input("maxTokens", "route default")}
      </Field>
      <Field label="Seed" error={errors.seed} hint="the same seed samples the same answer">
        {input("seed", "random")}
      </Field>
      <Field label="Stop sequences" error={errors.stop} hint="one per line, at most 4">
        <textarea
          rows={2}
          value={settings.stop}
          onChange={(e) => onChange({ stop: e.target.value })}
          disabled={disabled}
          data-testid="setting-stop"
        />
      </Field>
      <Field label="System prompt" error={errors.system} hint="sent first with every message of this thread" wide>
        <textarea
          rows={3}
          value={settings.system}
          onChange={(e) => onChange({ system: e.target.value })}
          disabled={disabled}
          data-testid="setting-system"
        />
      </Field>
      {errors.temperature && <span className="field-error">Temperature: {errors.temperature}</span>}
    </fieldset>
  );
}
