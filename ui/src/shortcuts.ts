// Keyboard shortcuts: one table, read by the handler and shown in the help.

export type ShortcutAction = "send" | "stop" | "new-chat";

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

/** True on Apple platforms, where Cmd plays Ctrl's part. */
export function isMac(platform: string = typeof navigator === "undefined" ? "" : navigator.platform): boolean {
  return /mac|iphone|ipad|ipod/i.test(platform);
}

/** The action a key press asks for, if any. Ctrl and Cmd count alike on every platform. */
export function shortcutOf(e: KeyLike): ShortcutAction | null {
  const mod = e.ctrlKey || e.metaKey;
  if (e.altKey) return null;
  if (mod && !e.shiftKey && e.key === "Enter") return "send";
  if (mod && e.shiftKey && e.key.toLowerCase() === "o") return "new-chat";
  if (!mod && !e.shiftKey && e.key === "Escape") return "stop";
  return null;
}

export const SHORTCUTS: { action: ShortcutAction; keys: (mac: boolean) => string; what: string }[] = [
  {
    action: "send",
    keys: (mac) => (mac ? "⌘ Enter" : "Ctrl+Enter"),
    what: "Send (Chat, where Enter also sends and Shift+Enter is a new line) · Run (Compare)",
  },
  { action: "stop", keys: () => "Esc", what: "Stop the answer being streamed" },
  { action: "new-chat", keys: (mac) => (mac ? "⌘ ⇧ O" : "Ctrl+Shift+O"), what: "New chat" },
];

export function keysFor(action: ShortcutAction, mac: boolean = isMac()): string {
  return SHORTCUTS.find((s) => s.action === action)?.keys(mac) ?? "";
}
