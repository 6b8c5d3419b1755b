import DOMPurify from "dompurify";
import { useMemo, useState, type MouseEvent } from "react";
import { markdownToHtml } from "../state/markdown";
import { Icon } from "./Icon";

/** Puts `text` on the clipboard; false when the browser refuses. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** An answer's Markdown, rendered; each code block's Copy button copies its code. */
export function Markdown({ text }: { text: string }) {
  // Sanitized again here: markdownToHtml already shows the text's own HTML as text.
  const html = useMemo(() => DOMPurify.sanitize(markdownToHtml(text), { ADD_ATTR: ["target"] }), [text]);
  const onClick = (e: MouseEvent<HTMLDivElement>) => {
    const button = (e.target as HTMLElement).closest<HTMLButtonElement>("[data-copy-code]");
    const code = button?.closest(".code-block")?.querySelector("code")?.textContent;
    if (!button || code === undefined || code === null) return;
    void copyText(code).then((ok) => {
      button.textContent = ok ? "Copied" : "Select and press Ctrl+C";
      window.setTimeout(() => (button.textContent = "Copy"), 1500);
    });
  };
  return <div className="markdown" onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />;
}

/** A small button that copies `text` and says so for a moment. */
export function CopyButton({ text, label, testId }: { text: string; label: string; testId?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "refused">("idle");
  const title = state === "copied" ? "Copied" : state === "refused" ? "The browser refused the clipboard" : label;
  return (
    <button
      type="button"
      className="icon-button"
      title={title}
      aria-label={title}
      data-testid={testId}
      onClick={() =>
        void copyText(text).then((ok) => {
          setState(ok ? "copied" : "refused");
          window.setTimeout(() => setState("idle"), 1500);
        })
      }
    >
      <Icon name={state === "copied" ? "check" : "copy"} />
    </button>
  );
}
