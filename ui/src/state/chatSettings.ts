// A thread's sampling settings (the drawer beside the composer): what the API accepts beyond
// the model, kept per thread in this browser, checked before anything is sent.

export interface ChatSettings {
  temperature: string;
  topP: string;
  maxTokens: string;
  /** One stop sequence per line. */
  stop: string;
  seed: string;
  system: string;
}

export const DEFAULT_SETTINGS: ChatSettings = {
  temperature: "0.7",
  topP: "",
  maxTokens: "",
  stop: "",
  seed: "",
  system: "",
};

/** What a request carries from the settings; empty fields are left to the server. */
export interface Sampling {
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  stop?: string[];
  seed?: number;
  system?: string;
}

/** OpenAI's limit, which Hearth's API keeps. */
export const MAX_STOP = 4;

/** The settings as request fields, or what is wrong with them (each a field and a reason). */
export function samplingOf(s: ChatSettings): { ok: Sampling } | { errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const out: Sampling = {};
  const number = (field: keyof ChatSettings, min: number, max: number, integer = false) => {
    const text = s[field].trim();
    if (text === "") return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      errors[field] = `${integer ? "a whole number" : "a number"} from ${min} to ${max}`;
      return undefined;
    }
    return n;
  };
  out.temperature = number("temperature", 0, 2);
  out.topP = number("topP", 0, 1);
  out.maxTokens = number("maxTokens", 1, 1_000_000, true);
  out.seed = number("seed", 0, Number.MAX_SAFE_INTEGER, true);
  const stop = s.stop.split("\n").filter((l) => l !== "");
  if (stop.length > MAX_STOP) errors.stop = `at most ${MAX_STOP} stop sequences, one per line`;
  else if (stop.length > 0) out.stop = stop;
  if (s.system.trim() !== "") out.system = s.system;
  for (const k of Object.keys(out) as (keyof Sampling)[]) if (out[k] === undefined) delete out[k];
  return Object.keys(errors).length > 0 ? { errors } : { ok: out };
}

/** Where settings are kept: localStorage in the page, a map in tests. */
export interface SettingsStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

const KEY = "hearth.chat.settings";

/** The settings of `threadId` (null: a new chat, which starts from the last ones used). */
export function loadSettings(store: SettingsStore, threadId: string | null): ChatSettings {
  const read = (key: string) => {
    try {
      const v = JSON.parse(store.getItem(key) ?? "null") as Partial<ChatSettings> | null;
      return v && typeof v === "object" ? v : null;
    } catch {
      return null;
    }
  };
  const kept = (threadId !== null ? read(`${KEY}.${threadId}`) : null) ?? read(`${KEY}.last`) ?? {};
  const out = { ...DEFAULT_SETTINGS };
  for (const k of Object.keys(DEFAULT_SETTINGS) as (keyof ChatSettings)[]) {
    if (typeof kept[k] === "string") out[k] = kept[k];
  }
  return out;
}

/** Keeps `s` for `threadId` and as the last used, for the next new chat. */
export function saveSettings(store: SettingsStore, threadId: string | null, s: ChatSettings): void {
  try {
    const v = JSON.stringify(s);
    if (threadId !== null) store.setItem(`${KEY}.${threadId}`, v);
    store.setItem(`${KEY}.last`, v);
  } catch {
    // Storage full or refused: the settings still apply to this page.
  }
}

/** The conversation as sent: the settings' system prompt first, when there is one. */
export function withSystem<M extends { role: string; content: string }>(
  messages: M[],
  system: string | undefined,
): (M | { role: "system"; content: string })[] {
  return system ? [{ role: "system", content: system }, ...messages] : messages;
}
