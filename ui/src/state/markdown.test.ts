import { describe, expect, it } from "vitest";
import { markdownToHtml } from "./markdown";

describe("markdownToHtml", () => {
  it("renders GitHub-flavoured Markdown: emphasis, lists and tables", () => {
    const html = markdownToHtml("**Total**: 12 EUR\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |");
    expect(html).toContain("<strong>Total</strong>");
    expect(html).toContain("<li>one</li>");
    expect(html).toContain("<table>");
    expect(html).toContain("<td>2</td>");
  });

  it("highlights a fenced block in a known language and gives it a copy button", () => {
    const html = markdownToHtml("```rust\nfn main() { let x = 1; }\n```");
    expect(html).toContain('class="hljs language-rust"');
    expect(html).toContain('<span class="hljs-keyword">fn</span>');
    expect(html).toContain("data-copy-code");
    expect(html).toContain('<span class="code-lang">rust</span>');
  });

  it("shows an unknown language's code as escaped text", () => {
    const html = markdownToHtml("```klingon\n<b>qapla'</b>\n```");
    expect(html).toContain('<code class="hljs">&lt;b&gt;qapla&#39;&lt;/b&gt;</code>');
  });

  it("never lets HTML from the answer into the page", () => {
    const html = markdownToHtml(
      'Hi <script>alert(1)</script> <img src=x onerror="alert(2)">\n\n<iframe src="https://example.test"></iframe>',
    );
    expect(html).not.toMatch(/<(script|img|iframe)/i);
    expect(html).toContain("&lt;script&gt;");
  });

  it("keeps web links, opened outside the app, and drops other schemes and images", () => {
    const html = markdownToHtml("[docs](https://example.test/a) [x](javascript:alert(1)) ![pic](https://example.test/p.png)");
    expect(html).toContain('<a href="https://example.test/a" target="_blank" rel="noopener noreferrer nofollow">docs</a>');
    expect(html).not.toContain("javascript:");
    expect(html).not.toContain("<img");
    expect(html).toContain("pic");
  });
});
