// An answer's Markdown as HTML: GitHub-flavoured (tables, fenced code, lists), code blocks
// highlighted by highlight.js with a copy button, and any HTML the text holds shown as text,
// never run: a model's answer (or a prompt injection inside it) cannot add markup, scripts or
// links to the page. The component sanitizes the result again before it reaches the DOM.

import { Marked, type Tokens } from "marked";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import sql from "highlight.js/lib/languages/sql";
import toml from "highlight.js/lib/languages/ini";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";

const LANGUAGES = {
  bash, c, cpp, css, diff, go, java, javascript, json, markdown, python, rust, sql, toml,
  typescript, xml, yaml,
};
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);
hljs.registerAliases(["sh", "shell", "zsh", "console"], { languageName: "bash" });
hljs.registerAliases(["js", "jsx", "mjs"], { languageName: "javascript" });
hljs.registerAliases(["ts", "tsx"], { languageName: "typescript" });
hljs.registerAliases(["py"], { languageName: "python" });
hljs.registerAliases(["rs"], { languageName: "rust" });
hljs.registerAliases(["html", "svg"], { languageName: "xml" });
hljs.registerAliases(["yml"], { languageName: "yaml" });

export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** The language a fence names, if highlight.js knows it. */
function languageOf(info: string | undefined): string | null {
  const name = (info ?? "").trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  return name && hljs.getLanguage(name) ? name : null;
}

function codeBlock({ text, lang }: Tokens.Code): string {
  const language = languageOf(lang);
  const body = language ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
  const label = escapeHtml((lang ?? "").trim().split(/\s+/)[0] ?? "");
  return (
    `<div class="code-block"><div class="code-head"><span class="code-lang">${label}</span>` +
    `<button type="button" class="code-copy" data-copy-code>Copy</button></div>` +
    `<pre><code class="hljs${language ? ` language-${language}` : ""}">${body}</code></pre></div>`
  );
}

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    code: codeBlock,
    // Raw HTML in the text stays text.
    html: ({ text }: Tokens.HTML | Tokens.Tag) => escapeHtml(text),
    // Links open outside the app, without the page as referrer or opener.
    link({ href, title, tokens }: Tokens.Link) {
      const inner = this.parser.parseInline(tokens);
      if (!/^(https?:|mailto:)/i.test(href)) return inner;
      const t = title ? ` title="${escapeHtml(title)}"` : "";
      return `<a href="${escapeHtml(href)}"${t} target="_blank" rel="noopener noreferrer nofollow">${inner}</a>`;
    },
    // Images would load from anywhere the text names: they are shown as their text.
    image: ({ text }: Tokens.Image) => escapeHtml(text),
  },
});

/** `text` (Markdown) as HTML. */
export function markdownToHtml(text: string): string {
  return marked.parse(text) as string;
}
