// End-to-end tests of the built UI in a real browser (Debian's Chromium via playwright-core)
// against a real `hearth serve --demo` on a free loopback port with a fresh data dir.
//
// It builds nothing: it needs ui/dist (npm run build) and target/debug/hearth (cargo build).
// Screenshots of every view land in ui/test-output/. The last line is "N passed, M failed".
//
// Environment: HEARTH_BIN (default ../target/debug/hearth), CHROMIUM (default
// /usr/bin/chromium), E2E_ONLY (run only tests whose name contains it).

import { assert, runSuite, shot as shotOf, suite, text } from "./harness.mjs";

const { tests, test } = suite();

// Set by runSuite before the first test.
let server;
let browser;
let page;
let token;
let api;

const fault = (provider, body) => api("POST", `/debug/provider/${provider}/fail`, body);

const shot = (name, p = page) => shotOf(p, name);

const lastAnswer = () => page.locator('[data-testid="msg-assistant"]').last();

/** Starts a new chat, types a prompt with settings, sends it with Ctrl+Enter. */
async function ask(prompt, { model = "", temperature = "0", task = "chat" } = {}) {
  await page.keyboard.press("Control+Shift+O");
  await page.locator('[data-testid="task-select"]').selectOption(task);
  await page.locator('[data-testid="model-select"]').selectOption(model);
  await page.locator('[data-testid="temperature"]').fill(temperature);
  await page.locator('[data-testid="composer"]').fill(prompt);
  await page.locator('[data-testid="composer"]').press("Control+Enter");
}

async function waitStatus(locator, statuses, timeout = 15_000) {
  const sel = statuses.map((s) => `[data-status="${s}"]`).join(", ");
  await locator.and(page.locator(sel)).waitFor({ timeout });
}

async function chooseWorkspace(ws) {
  await page.locator('[data-testid="workspace-select"]').selectOption(ws);
  await page.waitForFunction(
    (w) => document.querySelector('[data-testid="workspace-select"]')?.value === w && document.querySelector('[data-testid="composer"], [data-testid="compare-prompt"]'),
    ws,
  );
  // The models of the new workspace.
  await page.waitForTimeout(300);
}

// ---------------------------------------------------------------------------------------
// The tests

test("the UI loads without a key in the demo, with the seven views (those not built yet disabled)", async () => {
  await page.goto(server.base, { waitUntil: "domcontentloaded" });
  await page.locator('[data-testid="composer"]').waitFor();
  assert((await page.locator('[data-testid="key-screen"]').count()) === 0, "the key screen showed in the demo");
  assert((await text(page.locator('[data-testid="role"]'))) === "admin", "the demo's session is not admin");
  const ws = await page.locator('[data-testid="workspace-select"]').inputValue();
  assert(ws === "default", `workspace is ${ws}`);
  for (const v of ["chat", "compare"]) assert(await page.locator(`[data-testid="nav-${v}"]`).isEnabled(), `${v} disabled`);
  // A view not built yet is disabled and says "soon"; a built one opens.
  for (const v of ["routing", "costs", "prompts", "admin", "audit"]) {
    const nav = page.locator(`[data-testid="nav-${v}"]`);
    const soon = (await nav.locator(".nav-soon").count()) > 0;
    assert((await nav.isDisabled()) === soon, `${v}: disabled=${await nav.isDisabled()} but "soon" shown=${soon}`);
  }
  const tasks = await page.locator('[data-testid="task-select"] option').allTextContents();
  assert(tasks.includes("chat") && tasks.includes("extract"), `tasks: ${tasks}`);
});

test("a chat answer streams in and is tagged with provider, tokens, cost and latency", async () => {
  // Record every length the answer's text takes, to see it grow piece by piece.
  await page.evaluate(() => {
    window.__lengths = new Set();
    const t = document.querySelector('[data-testid="transcript"]');
    new MutationObserver(() => {
      const all = t.querySelectorAll('[data-testid="msg-assistant"] .msg-body');
      const last = all[all.length - 1];
      if (last) window.__lengths.add(last.textContent.length);
    }).observe(t, { subtree: true, childList: true, characterData: true });
  });
  // The page saves the question; the server saves the answer as it ends.
  const pagePosts = [];
  const onRequest = (r) => {
    if (r.method() === "POST" && /\/threads\/[^/]+\/messages$/.test(r.url())) pagePosts.push(JSON.parse(r.postData() ?? "{}").role);
  };
  page.on("request", onRequest);
  await ask("The customer was charged twice after upgrading the plan. What should support do?", { task: "reasoning" });
  await waitStatus(lastAnswer(), ["done"]);
  page.off("request", onRequest);
  assert(JSON.stringify(pagePosts) === '["user"]', `the page saved ${JSON.stringify(pagePosts)}; the server saves the answer`);
  const lengths = await page.evaluate(() => [...window.__lengths].filter((n) => n > 0).length);
  assert(lengths >= 3, `the answer did not stream (it took ${lengths} distinct lengths)`);
  const a = lastAnswer();
  const provider = await text(a.locator('[data-testid="tag-provider"]'));
  assert(/^mock-/.test(provider), `provider tag: ${provider}`);
  assert(/^mock-[a-z]+\/.+/.test(await text(a.locator('[data-testid="tag-model"]'))), "no model tag");
  assert((await text(a.locator('[data-testid="tag-locality"]'))) === "hosted", "no locality tag");
  const tokens = await text(a.locator('[data-testid="tag-tokens"]'));
  assert(/^\d+ in · \d+ out$/.test(tokens), `tokens tag: ${tokens}`);
  const cost = await text(a.locator('[data-testid="tag-cost"]'));
  assert(/^\$0\.0*[1-9]\d*$/.test(cost), `cost tag: ${cost}`);
  const latency = await text(a.locator('[data-testid="tag-latency"]'));
  assert(/^\d+(\.\d+)? (ms|s)$/.test(latency), `latency tag: ${latency}`);
  assert((await a.locator('[data-testid="tag-cache"]').count()) === 0, "a first answer claims a cache hit");

  // Both messages are saved to the thread, the answer with its meta.
  const item = page.locator('[data-testid="thread-item"].active');
  await item.waitFor();
  assert((await text(item)).includes("The customer was charged twice"), "the thread is not named after the prompt");
  const { threads } = await api("GET", "/threads");
  const { messages } = await api("GET", `/threads/${threads[0].id}/messages`);
  assert(messages.length === 2, `saved ${messages.length} messages`);
  assert(messages[1].role === "assistant" && messages[1].meta.provider === provider, "the answer's meta was not saved");
  assert(typeof messages[1].meta.cost_usd === "number" && messages[1].meta.output_tokens > 0, "no cost/tokens in meta");
});

test("the same deterministic prompt again is a cache hit", async () => {
  // The page saves the question; the server saves the answer as it ends.
  const pagePosts = [];
  const onRequest = (r) => {
    if (r.method() === "POST" && /\/threads\/[^/]+\/messages$/.test(r.url())) pagePosts.push(JSON.parse(r.postData() ?? "{}").role);
  };
  page.on("request", onRequest);
  await ask("The customer was charged twice after upgrading the plan. What should support do?", { task: "reasoning" });
  await waitStatus(lastAnswer(), ["done"]);
  page.off("request", onRequest);
  assert(JSON.stringify(pagePosts) === '["user"]', `the page saved ${JSON.stringify(pagePosts)}; the server saves the answer`);
  await lastAnswer().locator('[data-testid="tag-cache"]').waitFor({ timeout: 2000 });
  await shot("chat");
});

test("a failing provider shows the fallback tag", async () => {
  // The chat route's primary is mock-balanced; mock-fast is its fallback.
  await fault("mock-balanced", { fail: true });
  try {
    await ask("Where is my refund for order 1042?");
    await waitStatus(lastAnswer(), ["done"]);
    await lastAnswer().locator('[data-testid="tag-fallback"]').waitFor({ timeout: 2000 });
    const provider = await text(lastAnswer().locator('[data-testid="tag-provider"]'));
    assert(provider === "mock-fast", `fell back to ${provider}`);
  } finally {
    await fault("mock-balanced", { fail: false });
  }
  await shot("chat-fallback");
});

test("when every provider fails, the error lists each candidate model and what became of it", async () => {
  await fault("mock-balanced", { fail: true });
  await fault("mock-fast", { fail: true });
  try {
    await ask("Is anyone there?");
    await waitStatus(lastAnswer(), ["error"]);
    const err = lastAnswer().locator('[data-testid="error"]');
    assert((await err.getAttribute("data-code")) === "providers_unavailable", `error code ${await err.getAttribute("data-code")}`);
    const items = await err.locator('[data-testid="error-candidates"] li').allTextContents();
    assert(
      JSON.stringify(items) === JSON.stringify(["mock-balanced/fallback-balanced-v1 failed (unavailable)", "mock-fast/fast-extract-v1 failed (unavailable)"]),
      `candidates shown: ${JSON.stringify(items)}`,
    );
  } finally {
    await fault("mock-balanced", { fail: false });
    await fault("mock-fast", { fail: false });
  }
  await shot("chat-error-candidates");
});

test("a stream that breaks after its first words shows the partial answer and the server's error", async () => {
  await fault("mock-balanced", { mode: "break_mid_stream" });
  try {
    await ask("Explain the refund policy in one paragraph.");
    await waitStatus(lastAnswer(), ["error"]);
    const err = lastAnswer().locator('[data-testid="error"]');
    const shown = await text(err);
    assert(shown.includes("after the answer had started"), `not marked mid-stream: ${shown}`);
    const code = await err.getAttribute("data-code");
    assert(code && code !== "client_error" && code !== "invalid_stream", `error code ${code}`);
    const partial = await text(lastAnswer().locator(".msg-body"));
    assert(partial.length > 0, "the words that arrived were dropped");
    // Saved with its error, so the thread shows it after a reload too.
    await page.waitForTimeout(300);
    const { threads } = await api("GET", "/threads");
    const { messages } = await api("GET", `/threads/${threads[0].id}/messages`);
    const last = messages[messages.length - 1];
    assert(last.meta?.error?.code === code && last.meta.error.mid_stream === true, `saved: ${JSON.stringify(last.meta)}`);
  } finally {
    await fault("mock-balanced", { mode: "off" });
  }
  await shot("chat-error-mid-stream");
});

test("a spent budget shows the server's 429 code and message (tenant_free via the workspace switcher)", async () => {
  await api("PATCH", "/admin/workspaces/tenant_free", { daily_budget_usd: 0.0000001 });
  await chooseWorkspace("tenant_free");
  assert((await text(page.locator(".topbar .pill.subtle").first())) === "free", "the tier did not follow the workspace");
  await ask("Anything at all");
  const err = lastAnswer().locator('[data-testid="error"]');
  await err.waitFor({ timeout: 10_000 });
  const code = await err.getAttribute("data-code");
  assert(code === "budget_exceeded", `error code ${code}`);
  const shown = await text(err);
  assert(shown.includes("HTTP 429"), `no status in: ${shown}`);
  assert(/budget/i.test(shown) && shown.includes("tenant_free"), `not the server's message: ${shown}`);
  assert(!/something went wrong/i.test(shown), "a generic error message");
  await page.waitForTimeout(300);
  const { threads } = await api("GET", "/threads", undefined, { "x-hearth-workspace": "tenant_free" });
  const { messages } = await api("GET", `/threads/${threads[0].id}/messages`, undefined, { "x-hearth-workspace": "tenant_free" });
  assert(messages.at(-1).meta?.error?.code === "budget_exceeded", "the error was not kept with the thread");
  await shot("chat-error-429");
});

test("the rate limit of tenant_free shows rate_limited_workspace", async () => {
  // Budget back, then spend tenant_free's 30 requests a minute from outside the UI.
  await api("PATCH", "/admin/workspaces/tenant_free", { daily_budget_usd: 1.0 });
  const burst = [];
  for (let i = 0; i < 31; i++) {
    burst.push(
      fetch(`${server.base}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-hearth-workspace": "tenant_free" },
        body: JSON.stringify({ model: "hearth/extract", messages: [{ role: "user", content: `burst ${i}` }], max_tokens: 16 }),
      }).then((r) => r.status),
    );
  }
  const statuses = await Promise.all(burst);
  assert(statuses.includes(429), `no 429 in the burst: ${statuses}`);
  await ask("One more, please");
  const err = lastAnswer().locator('[data-testid="error"]');
  await err.waitFor({ timeout: 10_000 });
  const code = await err.getAttribute("data-code");
  assert(code === "rate_limited_workspace", `error code ${code}`);
  assert((await text(err)).includes("Retry after"), "no Retry-After shown");
  await chooseWorkspace("default");
});

test("Stop (Esc) aborts a stream and the answer is saved as stopped", async () => {
  await fault("mock-fast", { mode: "timeout" });
  try {
    await ask("This one will hang until stopped", { model: "mock-fast/fast-extract-v1", task: "extract" });
    const stop = page.locator('[data-testid="stop"]');
    await stop.waitFor({ timeout: 5000 });
    await waitStatus(lastAnswer(), ["waiting", "streaming"]);
    await page.waitForTimeout(300);
    await page.keyboard.press("Escape");
    await waitStatus(lastAnswer(), ["stopped"], 5000);
    await lastAnswer().locator('[data-testid="tag-stopped"]').waitFor();
    await page.locator('[data-testid="send"]').waitFor();
    await page.waitForTimeout(300); // the save after the stop
    const { threads } = await api("GET", "/threads");
    const { messages } = await api("GET", `/threads/${threads[0].id}/messages`);
    const last = messages[messages.length - 1];
    assert(last.role === "assistant" && last.meta && last.meta.stopped === true, `saved: ${JSON.stringify(last)}`);
  } finally {
    await fault("mock-fast", { mode: "off" });
  }
  await shot("chat-stopped");
});

test("an answer neither the server nor the page could save is flagged, and Save again keeps it", async () => {
  await fault("mock-fast", { mode: "timeout" });
  // A stopped answer is the page's to save; make that save be refused (a 4xx, which the page logs as expected).
  const failSave = (route) =>
    route.request().method() === "POST" && (route.request().postData() ?? "").includes('"assistant"')
      ? route.fulfill({ status: 429, contentType: "application/json", body: '{"error":{"code":"rate_limited_workspace","message":"slow down","trace_id":"t"}}' })
      : route.continue();
  await page.route("**/threads/*/messages", failSave);
  try {
    await ask("Unsaved until saved again", { model: "mock-fast/fast-extract-v1", task: "extract" });
    await waitStatus(lastAnswer(), ["waiting", "streaming"]);
    await page.keyboard.press("Escape");
    await waitStatus(lastAnswer(), ["stopped"], 5000);
    const flag = page.locator('[data-testid="unsaved"]');
    await flag.waitFor({ timeout: 5000 });
    assert((await text(flag)).includes("not saved"), `flag: ${await text(flag)}`);
    await page.unroute("**/threads/*/messages", failSave);
    await page.locator('[data-testid="save-again"]').click();
    await flag.waitFor({ state: "detached", timeout: 5000 });
    const { threads } = await api("GET", "/threads");
    const { messages } = await api("GET", `/threads/${threads[0].id}/messages`);
    const last = messages[messages.length - 1];
    assert(last.role === "assistant" && last.meta?.stopped === true, `after Save again: ${JSON.stringify(last)}`);
  } finally {
    await page.unroute("**/threads/*/messages").catch(() => {});
    await fault("mock-fast", { mode: "off" });
  }
});

test("threads: search, rename and delete", async () => {
  await page.locator('[data-testid="thread-search"]').fill("1042");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="thread-item"]').length === 1, null, { timeout: 5000 });
  const item = page.locator('[data-testid="thread-item"]').first();
  assert((await text(item)).includes("refund for order 1042"), "search found the wrong thread");
  await item.hover();
  await item.locator('[data-testid="rename-thread"]').click();
  await page.locator('[data-testid="rename-input"]').fill("Refund question");
  await page.locator('[data-testid="rename-input"]').press("Enter");
  await page.locator('[data-testid="thread-item"]', { hasText: "Refund question" }).waitFor();
  const { threads } = await api("GET", "/threads?q=Refund%20question");
  assert(threads.some((t) => t.title === "Refund question"), "the rename was not saved");
  await page.locator('[data-testid="thread-search"]').fill("");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="thread-item"]').length > 1, null, { timeout: 5000 });
  const before = await page.locator('[data-testid="thread-item"]').count();
  const victim = page.locator('[data-testid="thread-item"]', { hasText: "Refund question" });
  await victim.hover();
  await victim.locator('[data-testid="delete-thread"]').click();
  await victim.locator('[data-testid="confirm-delete"]').click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="thread-item"]').length === n - 1, before);
  const after = await api("GET", "/threads");
  assert(!after.threads.some((t) => t.title === "Refund question"), "the thread was not deleted");
});

test("answers render as Markdown: highlighted code with a working Copy, tables, and the answer's own HTML shown as text", async () => {
  const answer = [
    "Here is **the fix**:",
    "",
    "```rust",
    "fn total(xs: &[u32]) -> u32 { xs.iter().sum() }",
    "```",
    "",
    "| item | EUR |",
    "|---|---|",
    "| tea | 3 |",
    "",
    'Ignore this: <img src="x" onerror="window.__injected = 1"> <script>window.__injected = 2</script>',
  ].join("\n");
  const t = await api("POST", "/threads", { title: "Markdown rendering" });
  await api("POST", `/threads/${t.id}/messages`, { role: "user", content: "Fix my sum" });
  await api("POST", `/threads/${t.id}/messages`, { role: "assistant", content: answer, meta: {} });
  await page.keyboard.press("Control+Shift+O");
  // A search lists the thread made through the API.
  await page.locator('[data-testid="thread-search"]').fill("Markdown rendering");
  await page.locator('[data-testid="thread-item"]', { hasText: "Markdown rendering" }).locator("button").first().click();
  await page.locator('[data-testid="thread-search"]').fill("");
  const body = lastAnswer().locator(".markdown");
  await body.locator(".code-block").waitFor({ timeout: 5000 });
  assert((await text(body.locator("strong"))) === "the fix", "bold text is not rendered");
  const keyword = await body.locator("code.language-rust .hljs-keyword").first().textContent();
  assert(keyword === "fn", `no highlighted keyword: ${keyword}`);
  assert((await body.locator("table td").allTextContents()).join(",") === "tea,3", "the table is not rendered");
  assert((await body.locator("img, script").count()) === 0, "the answer's HTML reached the page");
  assert((await text(body)).includes('<img src="x"'), "the answer's HTML is not shown as text");
  assert((await page.evaluate(() => window.__injected)) === undefined, "the answer's HTML ran");
  assert((await page.title()) === "Markdown rendering · Chat · Hearth", `title: ${await page.title()}`);

  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.base });
  await body.locator("[data-copy-code]").click();
  await body.locator("[data-copy-code]", { hasText: "Copied" }).waitFor({ timeout: 3000 });
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert(copied === "fn total(xs: &[u32]) -> u32 { xs.iter().sum() }", `copied: ${JSON.stringify(copied)}`);
  await lastAnswer().hover();
  await lastAnswer().locator('[data-testid="copy-answer"]').click();
  const whole = await page.evaluate(() => navigator.clipboard.readText());
  assert(whole === answer, "Copy answer does not copy the Markdown");
  await shot("chat-markdown");
});

test("Enter sends, Shift+Enter starts a new line, and the new thread is listed while its answer streams", async () => {
  await fault("mock-fast", { mode: "slow", delay_ms: 150 });
  try {
    await page.keyboard.press("Control+Shift+O");
    await page.locator('[data-testid="task-select"]').selectOption("extract");
    await page.locator('[data-testid="model-select"]').selectOption("mock-fast/fast-extract-v1");
    const composer = page.locator('[data-testid="composer"]');
    await composer.fill("");
    await composer.pressSequentially("first line");
    await composer.press("Shift+Enter");
    await composer.pressSequentially("second line");
    assert((await composer.inputValue()) === "first line\nsecond line", `composer: ${await composer.inputValue()}`);
    await composer.press("Enter");
    await page.locator('[data-testid="thread-item"]', { hasText: "first line" }).waitFor({ timeout: 5000 });
    const status = await lastAnswer().getAttribute("data-status");
    const user = await text(page.locator('[data-testid="msg-user"] .msg-body').last());
    assert(user === "first line\nsecond line", `sent: ${JSON.stringify(user)}`);
    assert(["waiting", "streaming"].includes(status), `the thread was listed only after the answer (${status})`);
    assert((await composer.inputValue()) === "", "the composer was not cleared");
    await waitStatus(lastAnswer(), ["done"]);
  } finally {
    await fault("mock-fast", { mode: "off" });
  }
});

test("the settings drawer sends top_p, max tokens, stop, seed and a system prompt, kept per thread", async () => {
  await page.keyboard.press("Control+Shift+O");
  await page.locator('[data-testid="task-select"]').selectOption("extract");
  await page.locator('[data-testid="model-select"]').selectOption("mock-fast/fast-extract-v1");
  await page.locator('[data-testid="settings-toggle"]').click();
  const set = (name, value) => page.locator(`[data-testid="setting-${name}"]`).fill(value);
  await set("topP", "2");
  await page.locator('[data-testid="composer"]').fill("Settings check");
  await page.locator('[data-testid="composer"]').press("Enter");
  await page.locator('[data-testid="chat-settings"] .field-error').waitFor({ timeout: 3000 });
  assert((await page.locator('[data-testid="msg-user"]').count()) === 0, "a bad setting was sent");
  await set("topP", "0.9");
  await set("maxTokens", "12");
  await set("seed", "42");
  await set("stop", "END\nSTOP");
  await set("system", "Answer in one word.");
  await shot("chat-settings");
  const sent = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions") && r.method() === "POST");
  await page.locator('[data-testid="composer"]').press("Enter");
  const body = JSON.parse((await sent).postData() ?? "{}");
  assert(body.top_p === 0.9 && body.max_tokens === 12 && body.seed === 42, `sent: ${JSON.stringify(body)}`);
  assert(JSON.stringify(body.stop) === '["END","STOP"]', `stop: ${JSON.stringify(body.stop)}`);
  assert(body.messages[0].role === "system" && body.messages[0].content === "Answer in one word.", "no system prompt first");
  await waitStatus(lastAnswer(), ["done"]);
  const thread = await text(page.locator('[data-testid="thread-item"].active .side-item-title'));
  // Another chat starts from these settings; changing them there leaves this thread's alone.
  await page.keyboard.press("Control+Shift+O");
  assert((await page.locator('[data-testid="setting-seed"]').inputValue()) === "42", "a new chat did not start from the last settings");
  await set("seed", "7");
  await page.locator('[data-testid="thread-item"]', { hasText: thread }).locator("button").first().click();
  await page.waitForFunction(() => document.querySelector('[data-testid="setting-seed"]')?.value === "42", null, { timeout: 3000 });
  for (const name of ["topP", "maxTokens", "seed", "stop", "system"]) await set(name, "");
  await page.locator('[data-testid="settings-toggle"]').click();
});

test("chat with a prompt version: support_triage v1 is sent and the answer is tagged with it", async () => {
  await page.keyboard.press("Control+Shift+O");
  const promptSelect = page.locator('[data-testid="prompt-select"]');
  await promptSelect.waitFor({ timeout: 5000 });
  const prompts = await promptSelect.locator("option").allTextContents();
  assert(prompts[0] === "None" && prompts.includes("support_triage") && prompts.includes("assistant"), `prompts: ${prompts}`);
  assert((await promptSelect.inputValue()) === "", "a prompt is chosen by default");
  assert((await page.locator('[data-testid="prompt-version-select"]').count()) === 0, "a version select without a prompt");
  await promptSelect.selectOption({ label: "support_triage" });
  const version = page.locator('[data-testid="prompt-version-select"]');
  const versions = await version.locator("option").allTextContents();
  assert(versions[0] === "Routed (stable/canary)" && versions.includes("v1 · stable"), `versions: ${versions}`);
  await version.selectOption({ label: "v1 · stable" });
  // Fill whatever variables v1 declares (the demo's declares none).
  for (const input of await page.locator('[data-testid="prompt-picker"] input[data-var]').all()) {
    await input.fill(`test ${await input.getAttribute("data-var")}`);
  }
  const sent = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions") && r.method() === "POST");
  await page.locator('[data-testid="composer"]').fill("Ticket: I was charged twice after upgrading my plan.");
  await page.locator('[data-testid="composer"]').press("Control+Enter");
  const body = JSON.parse((await sent).postData() ?? "{}");
  assert(body.metadata?.prompt_id === "support_triage" && body.metadata.prompt_version === "v1", `metadata sent: ${JSON.stringify(body.metadata)}`);
  await waitStatus(lastAnswer(), ["done"]);
  const tag = lastAnswer().locator('[data-testid="tag-prompt"]');
  await tag.waitFor({ timeout: 2000 });
  assert((await text(tag)) === "support_triage v1", `prompt tag: ${await text(tag)}`);
  await page.waitForTimeout(300); // the save
  const { threads } = await api("GET", "/threads");
  const { messages } = await api("GET", `/threads/${threads[0].id}/messages`);
  const last = messages.at(-1);
  assert(last.meta?.prompt_id === "support_triage" && last.meta.prompt_version === "v1", `saved: ${JSON.stringify(last.meta)}`);
  await shot("chat-prompt");
  // Back to no prompt: the next chats of the suite send none.
  await promptSelect.selectOption("");
  assert((await page.locator('[data-testid="prompt-version-select"]').count()) === 0, "the version select stayed");
});

test("compare: two models stream side by side with metrics; save and rerun", async () => {
  await page.locator('[data-testid="nav-compare"]').click();
  await page.locator('[data-testid="compare-prompt"]').waitFor();
  const checked = await page.locator('[data-testid="compare-models"] input:checked').count();
  assert(checked === 2, `${checked} models preselected`);
  await page.locator('[data-testid="compare-prompt"]').fill("Classify: the invoice shows a double charge after the upgrade.");
  await page.locator('[data-testid="compare-run"]').click();
  const cols = page.locator('[data-testid="compare-column"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="compare-column"][data-status="done"]').length === 2, null, {
    timeout: 15_000,
  });
  assert((await cols.count()) === 2, "not two columns");
  for (let i = 0; i < 2; i++) {
    const c = cols.nth(i);
    const latency = await text(c.locator('[data-testid="metric-latencyMs"]'));
    const ttft = await text(c.locator('[data-testid="metric-ttftMs"]'));
    const tps = await text(c.locator('[data-testid="metric-tokensPerSecond"]'));
    const tokens = await text(c.locator('[data-testid="metric-tokens"]'));
    const cost = await text(c.locator('[data-testid="metric-costUsd"]'));
    assert(/\d+(\.\d+)? (ms|s)$/.test(latency), `column ${i} latency ${latency}`);
    assert(/\d+(\.\d+)? (ms|s)$/.test(ttft), `column ${i} ttft ${ttft}`);
    assert(/tok\/s$/.test(tps), `column ${i} tokens/s ${tps}`);
    assert(/^\d+ in · \d+ out$/.test(tokens), `column ${i} tokens ${tokens}`);
    assert(/\$0\.0*[1-9]/.test(cost), `column ${i} cost ${cost}`);
    assert((await text(c.locator('[data-testid="column-text"]'))).length > 10, `column ${i} has no text`);
  }
  await shot("compare");
  await page.locator('[data-testid="compare-save"]').click();
  await page.locator('[data-testid="comparison-item"]').first().waitFor({ timeout: 5000 });
  const { comparisons } = await api("GET", "/comparisons");
  assert(comparisons.length === 1, `${comparisons.length} comparisons saved`);
  // Open the saved one, then run it again.
  await page.locator('[data-testid="comparison-item"] .side-item-main').first().click();
  await page.locator(".compare-main > .notice").waitFor();
  await page.locator('[data-testid="comparison-item"]').first().hover();
  await page.locator('[data-testid="rerun-comparison"]').first().click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="compare-column"][data-status="done"]').length === 2, null, {
    timeout: 15_000,
  });
  await shot("compare-saved");
});

test("while /ready says not_ready the top bar shows “Loading models…” with the reasons, then hides it and stops asking", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const p = await ctx.newPage();
    const reason = "provider `local` is still loading its model";
    let calls = 0;
    // The demo's mock providers are ready at once: the first two answers are a loading server's.
    await p.route("**/ready", (route) => {
      calls++;
      if (calls > 2) return route.continue();
      return route.fulfill({
        status: 503,
        contentType: "application/json",
        body: JSON.stringify({ status: "not_ready", reasons: [reason], checks: { database: true, providers: {} } }),
      });
    });
    await p.goto(server.base, { waitUntil: "domcontentloaded" });
    const pill = p.locator('[data-testid="ready-pill"]');
    await pill.waitFor({ timeout: 5000 });
    assert((await text(pill)) === "Loading models…", `pill: ${await text(pill)}`);
    assert((await pill.getAttribute("title")).includes(reason), `tooltip: ${await pill.getAttribute("title")}`);
    // Nothing is blocked meanwhile.
    await p.locator('[data-testid="composer"]').fill("typing while the models load");
    await shot("ready-loading", p);
    await pill.waitFor({ state: "detached", timeout: 10_000 });
    const after = calls;
    assert(after === 3, `${after} calls to /ready`);
    await p.waitForTimeout(2500);
    assert(calls === after, "still polling /ready once ready");
  } finally {
    await ctx.close();
  }

  // A /ready the key may not read: no pill, no key screen, one call.
  const denied = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const p = await denied.newPage();
    let calls = 0;
    await p.route("**/ready", (route) => {
      calls++;
      return route.fulfill({ status: 401, contentType: "application/json", body: JSON.stringify({ error: { code: "unauthorized", message: "no" } }) });
    });
    await p.goto(server.base, { waitUntil: "domcontentloaded" });
    await p.locator('[data-testid="composer"]').waitFor();
    await p.waitForTimeout(2500);
    assert(calls === 1, `${calls} calls to a /ready that answers 401`);
    assert((await p.locator('[data-testid="ready-pill"]').count()) === 0, "a pill for a 401");
    assert((await p.locator('[data-testid="key-screen"]').count()) === 0, "a 401 of /ready brought up the key screen");
  } finally {
    await denied.close();
  }
}, 40_000);

test("the local-only workspace shows “Nothing leaves this device”", async () => {
  await api("PATCH", "/admin/workspaces/tenant_pro", { data_policy: "local_only" });
  await page.locator('[data-testid="nav-chat"]').click();
  await chooseWorkspace("tenant_pro");
  const badge = page.locator('[data-testid="local-badge"]');
  await badge.waitFor({ timeout: 5000 });
  assert((await text(badge)).includes("Nothing leaves this device"), "badge text");
  await shot("chat-local-only");
  await api("PATCH", "/admin/workspaces/tenant_pro", { data_policy: "any" });
  await chooseWorkspace("default");
  assert((await page.locator('[data-testid="local-badge"]').count()) === 0, "the badge stayed");
});

test("a key screen on 401: a refused key is forgotten, a good one shows its workspace and role", async () => {
  const created = await api("POST", "/admin/keys", { workspace: "tenant_pro", role: "user", user: "alice" });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const p = await ctx.newPage();
    await p.addInitScript(() => {
      if (!sessionStorage.getItem("seeded")) {
        sessionStorage.setItem("seeded", "1");
        localStorage.setItem("hearth.apiKey", "hk_revoked_or_wrong");
      }
    });
    await p.goto(server.base, { waitUntil: "domcontentloaded" });
    await p.locator('[data-testid="key-screen"]').waitFor({ timeout: 10_000 });
    assert((await p.evaluate(() => localStorage.getItem("hearth.apiKey"))) === null, "the refused key was kept");
    await shot("key-screen", p);
    await p.locator('[data-testid="key-input"]').fill("hk_still_wrong");
    await p.locator('[data-testid="key-submit"]').click();
    await p.locator('[data-testid="error"][data-code="unauthorized"]').waitFor();
    await p.locator('[data-testid="key-input"]').fill(created.key);
    await p.locator('[data-testid="key-submit"]').click();
    await p.locator('[data-testid="login-notice"]').waitFor();
    const notice = await text(p.locator('[data-testid="login-notice"]'));
    assert(notice.includes("tenant_pro") && notice.includes("user"), `notice: ${notice}`);
    assert((await text(p.locator('[data-testid="workspace-name"]'))) === "tenant_pro", "workspace not shown");
    assert((await text(p.locator('[data-testid="role"]'))) === "user", "role not shown");
    assert((await p.evaluate(() => localStorage.getItem("hearth.apiKey"))) === created.key, "the key was not remembered");
    await p.reload({ waitUntil: "domcontentloaded" });
    await p.locator('[data-testid="composer"]').waitFor();
    assert((await p.locator('[data-testid="key-screen"]').count()) === 0, "the remembered key was not used");
  } finally {
    await ctx.close();
  }
});

test("screenshots: dark theme and 1920x1080, shortcut help", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "dark" });
  try {
    const p = await ctx.newPage();
    await p.goto(`${server.base}/#/chat`, { waitUntil: "domcontentloaded" });
    await p.locator('[data-testid="thread-item"]').first().waitFor();
    await p.locator('[data-testid="thread-item"] .side-item-main').first().click();
    await p.locator('[data-testid="msg-assistant"]').first().waitFor();
    await p.locator('[data-testid="shortcuts-button"]').click();
    await shot("chat-dark", p);
    await p.goto(`${server.base}/#/compare`);
    await p.locator('[data-testid="comparison-item"] .side-item-main').first().click();
    await p.locator('[data-testid="compare-column"]').first().waitFor();
    await shot("compare-dark", p);
  } finally {
    await ctx.close();
  }
  const big = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  try {
    const p = await big.newPage();
    await p.goto(`${server.base}/#/chat`, { waitUntil: "domcontentloaded" });
    await p.locator('[data-testid="thread-item"] .side-item-main').first().click();
    await p.locator('[data-testid="msg-assistant"]').first().waitFor();
    await shot("chat-1920", p);
  } finally {
    await big.close();
  }
});

// ---------------------------------------------------------------------------------------

await runSuite(tests, {
  onReady: (env) => {
    ({ server, browser, page, token, api } = env);
  },
});
