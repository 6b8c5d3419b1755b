// End-to-end tests of the Routing and Costs views in a real browser against a real
// `hearth serve --demo` (see harness.mjs). Traffic is sent through the API with the demo's
// token, so there are costs, cache hits, a budget alert and fallbacks to look at.
//
// npm run e2e:routing-costs (needs ui/dist and target/debug/hearth). Screenshots:
// test-output/routing*.png and costs*.png.

import { readFileSync } from "node:fs";
import { assert, runSuite, shot as shotOf, suite, text } from "./harness.mjs";

const { tests, test } = suite();

let server;
let browser;
let page;
let token;
let api;
let dataDir;

const shot = (name, p = page) => shotOf(p, name);
const fault = (provider, body) => api("POST", `/debug/provider/${provider}/fail`, body);

/** One chat completion through the API; resolves with its status and trace id. */
async function chat(model, content, { workspace, maxTokens, temperature } = {}) {
  const res = await fetch(`${server.base}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      ...(workspace ? { "x-hearth-workspace": workspace } : {}),
    },
    body: JSON.stringify({
      model,
      messages: [{ role: "user", content }],
      ...(maxTokens ? { max_tokens: maxTokens } : {}),
      ...(temperature !== undefined ? { temperature } : {}),
    }),
  });
  await res.text();
  return { status: res.status, trace: res.headers.get("x-hearth-trace-id") };
}

async function open(view, p = page) {
  await p.goto(`${server.base}/#/${view}`, { waitUntil: "domcontentloaded" });
  await p.locator(`[data-testid="${view}-view"]`).waitFor({ timeout: 10_000 });
}

const providerRow = (name, p = page) => p.locator(`[data-testid="provider-row"][data-provider="${name}"]`);

// ---------------------------------------------------------------------------------------

test("traffic for the views: chats in three workspaces, a cache hit, a budget alert", async () => {
  for (let i = 0; i < 3; i++) assert((await chat("hearth/chat", `Where is my order ${i}?`)).status === 200, "chat failed");
  assert((await chat("hearth/reasoning", "Plan the refund for a double charge.")).status === 200, "reasoning failed");
  for (let i = 0; i < 2; i++) {
    const r = await chat("hearth/extract", "Extract the order id from: order 1042 arrived broken", { temperature: 0 });
    assert(r.status === 200, `extract ${i}: ${r.status}`);
  }
  assert((await chat("hearth/extract", "hello from free", { workspace: "tenant_free", maxTokens: 16 })).status === 200, "tenant_free chat failed");
  // tenant_pro: a tiny budget that a few short answers pass the 80% alert share of.
  await api("PATCH", "/admin/workspaces/tenant_pro", { daily_budget_usd: 0.0001 });
  for (let i = 0; i < 8; i++) await chat("hearth/chat", `pro ${i}`, { workspace: "tenant_pro", maxTokens: 16 });
  const { alerts } = await api("GET", "/admin/alerts");
  assert(alerts.some((a) => a.workspace_id === "tenant_pro"), `no budget alert: ${JSON.stringify(alerts)}`);
});

test("costs: totals, the daily chart, breakdowns by model, task and workspace, budgets with the alert mark, alerts", async () => {
  const expected = (await api("GET", "/admin/costs")).costs;
  await open("costs");
  const requests = page.locator('[data-testid="kpi-requests"] .ins-kpi-value');
  await requests.waitFor();
  assert((await text(requests)) === String(expected.total.requests), `requests ${await text(requests)} != ${expected.total.requests}`);
  const spend = await text(page.locator('[data-testid="kpi-spend"] .ins-kpi-value'));
  assert(/^\$0\.0*[1-9]/.test(spend), `spend ${spend}`);
  const rate = await text(page.locator('[data-testid="kpi-cache-rate"] .ins-kpi-value'));
  assert(/^\d+(\.\d)?%$/.test(rate) && rate !== "0%", `cache hit rate ${rate}`);
  assert(/^\$0\.0*[1-9]/.test(await text(page.locator('[data-testid="kpi-cache-saved"] .ins-kpi-value'))), "no cache savings");

  // The chart: 30 days, drawn on a canvas with its legend.
  const chart = page.locator('[data-testid="daily-chart"]');
  assert((await chart.getAttribute("data-days")) === "30", `chart days ${await chart.getAttribute("data-days")}`);
  await chart.locator("canvas").first().waitFor();
  const box = await chart.locator("canvas").first().boundingBox();
  assert(box && box.width > 500 && box.height > 150, `chart size ${JSON.stringify(box)}`);
  assert((await text(chart.locator(".u-legend"))).includes("Spend"), "no legend");

  // By model: one row per model the API reports, with its cost.
  const rows = page.locator('[data-testid="costs-by-model"] [data-testid="cost-row"]');
  assert((await rows.count()) === expected.by_model.length, `by-model rows ${await rows.count()} != ${expected.by_model.length}`);
  for (const m of expected.by_model) {
    const row = page.locator(`[data-testid="costs-by-model"] [data-key="${m.key}"]`);
    assert((await row.count()) === 1, `no row for ${m.key}`);
    assert(/^\$0\.0*[1-9]/.test(await text(row.locator('[data-testid="cost-value"]'))), `cost of ${m.key}`);
  }
  const tasks = await page.locator('[data-testid="costs-by-task"] [data-testid="cost-row"]').evaluateAll((els) => els.map((e) => e.dataset.key));
  for (const t of ["chat", "extract", "reasoning"]) assert(tasks.includes(t), `task ${t} missing: ${tasks}`);
  const wss = await page.locator('[data-testid="costs-by-workspace"] [data-testid="cost-row"]').evaluateAll((els) => els.map((e) => e.dataset.key));
  for (const w of ["default", "tenant_pro", "tenant_free"]) assert(wss.includes(w), `workspace ${w} missing: ${wss}`);
  assert((await page.locator('[data-testid="top-by-cost"] li').count()) >= 3, "top by cost");
  assert((await page.locator('[data-testid="top-by-tokens"] li').count()) >= 3, "top by tokens");

  // tenant_pro is past its alert share: marked, with the threshold drawn on its bar.
  const pro = page.locator('[data-testid="budget-row"][data-workspace="tenant_pro"]');
  const level = await pro.getAttribute("data-level");
  assert(level === "alert" || level === "over", `tenant_pro budget level ${level}`);
  assert((await pro.locator('[data-testid="alert-mark"]').count()) === 1, "no alert mark on the budget bar");
  assert((await text(pro.locator('[data-testid="budget-spent"]'))).includes("of $0.0001"), "budget text");
  const alertRows = page.locator('[data-testid="alerts-table"] [data-testid="alert-row"]');
  assert((await alertRows.count()) >= 1 && (await text(alertRows.first())).includes("tenant_pro"), "the alert is not listed");
  await shot("costs");

  // Another period and one workspace.
  await page.locator('[data-testid="period-7"]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="daily-chart"]')?.getAttribute("data-days") === "7");
  await page.locator('[data-testid="costs-workspace"]').selectOption("tenant_pro");
  await page.waitForFunction(() => document.querySelector('[data-testid="costs-period"]')?.textContent?.includes("workspace tenant_pro"));
  const proRows = await page.locator('[data-testid="costs-by-workspace"] [data-testid="cost-row"]').count();
  assert(proRows === 1, `filtered to tenant_pro but ${proRows} workspace rows`);
  await page.locator('[data-testid="costs-workspace"]').selectOption("");
  await page.locator('[data-testid="period-30"]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="daily-chart"]')?.getAttribute("data-days") === "30");
});

test("costs: Export CSV downloads the breakdowns", async () => {
  const expected = (await api("GET", "/admin/costs")).costs;
  await page.locator('[data-testid="costs-by-model"]').waitFor();
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator('[data-testid="costs-export"]').click()]);
  assert(/^hearth-costs-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/.test(download.suggestedFilename()), `file name ${download.suggestedFilename()}`);
  const csv = readFileSync(await download.path(), "utf8");
  const lines = csv.split("\r\n").filter((l) => l !== "");
  assert(lines[0] === "breakdown,key,requests,input_tokens,output_tokens,cost_usd,cache_hits", `header: ${lines[0]}`);
  const total = lines.find((l) => l.startsWith("total,"));
  assert(total && total.split(",")[2] === String(expected.total.requests), `total row: ${total}`);
  assert(lines.filter((l) => l.startsWith("day,")).length === 30, "not 30 day rows");
  for (const m of expected.by_model) {
    const row = lines.find((l) => l.startsWith(`model,${m.key},`));
    assert(row, `no CSV row for ${m.key}`);
    const cells = row.split(",");
    assert(cells[2] === String(m.requests) && Math.abs(Number(cells[5]) - m.cost_usd) < 1e-12, `CSV row ${row} vs ${JSON.stringify(m)}`);
  }
  for (const t of ["chat", "extract", "reasoning"]) assert(lines.some((l) => l.startsWith(`task,${t},`)), `no task row ${t}`);
  assert(lines.some((l) => l.startsWith("workspace,tenant_pro,")), "no workspace row");
  assert(lines.some((l) => l.startsWith("cache_saved,")), "no cache_saved row");
  assert(!/e-\d/.test(csv), "a number in exponent notation");
});

test("routing: routes with ordered fallbacks, tiers with their rules, models with prices, the data policy", async () => {
  await open("routing");
  const routes = page.locator('[data-testid="routes-table"] [data-testid="route-row"]');
  await routes.first().waitFor();
  assert((await routes.count()) === 3, `${await routes.count()} routes`);
  const extract = page.locator('[data-testid="route-row"][data-task="extract"]');
  const models = await extract.locator('[data-testid="route-model"] strong').allTextContents();
  assert(models.join(" > ") === "fast_extractor > fallback_balanced", `extract chain ${models}`);
  assert((await text(extract)).includes("mock-fast/fast-extract-v1"), "no address in the route");
  const free = page.locator('[data-testid="tier-row"][data-tier="free"]');
  const freeText = await text(free);
  assert(freeText.includes("fast_extractor") && freeText.includes("$1.00") && freeText.includes("30"), `free tier: ${freeText}`);
  assert(freeText.includes("reject (429)") && freeText.includes("degrade to fast_extractor"), `free tier actions: ${freeText}`);
  assert((await text(page.locator('[data-testid="tier-row"][data-tier="pro"]'))).includes("downgrade to fast_extractor"), "pro's downgrade");
  assert((await page.locator('[data-testid="tier-row"].ins-current').getAttribute("data-tier")) === "enterprise", "this workspace's tier not marked");
  const strong = page.locator('[data-testid="model-row"]', { hasText: "strong_reasoner" });
  assert((await text(strong)).includes("$3.00"), `strong prices: ${await text(strong)}`);
  assert((await text(page.locator('[data-testid="workspace-data-policy"]'))) === "any", "data policy");
  assert((await page.locator('[data-testid="provider-row"]').count()) === 3, "providers");
  assert((await providerRow("mock-fast").locator('[data-testid="breaker-state"]').getAttribute("data-state")) === "closed", "mock-fast not closed");
  assert((await text(page.locator('[data-testid="error-window"]'))).includes("over the last"), "no error window text");

  // The feed: this workspace's requests by default, every workspace's on demand.
  await page.locator('[data-testid="decision-row"]').first().waitFor();
  const own = await page.locator('[data-testid="decision-row"]').allTextContents();
  assert(own.every((t) => !t.includes("tenant_pro")), "the feed of default shows tenant_pro");
  await page.locator('[data-testid="feed-scope-all"]').click();
  await page.locator('[data-testid="decision-row"]', { hasText: "tenant_pro" }).first().waitFor({ timeout: 10_000 });
  await page.locator('[data-testid="feed-scope-workspace"]').click();
  await page.waitForFunction(() => ![...document.querySelectorAll('[data-testid="decision-row"]')].some((r) => r.textContent.includes("tenant_pro")), null, {
    timeout: 10_000,
  });
});

test("routing: a failing provider's breaker shows Open, its error rate rises, and the feed shows the skip", async () => {
  await fault("mock-fast", { mode: "fail" });
  try {
    for (let i = 0; i < 6; i++) await chat("hearth/extract", `fail ${i}`);
    const { providers } = await api("GET", "/admin/providers");
    assert(providers.find((p) => p.name === "mock-fast").breaker.state === "open", "the breaker did not open on the server");
    const state = providerRow("mock-fast").locator('[data-testid="breaker-state"]');
    await page.waitForFunction(
      () => document.querySelector('[data-provider="mock-fast"] [data-testid="breaker-state"]')?.getAttribute("data-state") === "open",
      null,
      { timeout: 10_000 },
    );
    assert((await text(state)) === "Open", `shown as ${await text(state)}`);
    assert(Number(await text(providerRow("mock-fast").locator('[data-testid="consecutive-failures"]'))) >= 5, "consecutive failures");
    // A fresh request while the breaker is open: its reason names the skip.
    const fresh = await chat("hearth/extract", "one more while open");
    assert(fresh.status === 200 && fresh.trace, `fresh request ${fresh.status}`);
    const row = page.locator(`[data-testid="decision-row"][data-trace="${fresh.trace}"]`);
    await row.waitFor({ timeout: 10_000 });
    const reason = await text(row.locator('[data-testid="decision-reason"]'));
    assert(reason.includes("allow") && reason.includes("route extract") && reason.includes("skip mock-fast/fast-extract-v1 (breaker open)"), `reason: ${reason}`);
    assert((await text(row)).includes("fallback"), "the fallback is not tagged");
    const first = page.locator('[data-testid="decision-row"]').first();
    assert((await first.getAttribute("data-trace")) === fresh.trace, "the newest request is not first");
    // The error rates are read every 15 s; Refresh reads them now.
    await page.locator('[data-testid="routing-refresh"]').click();
    await page.waitForFunction(() => /[1-9]\d*(\.\d)?%/.test(document.querySelector('[data-provider="mock-fast"] [data-testid="error-rate"]')?.textContent ?? ""), null, {
      timeout: 10_000,
    });
    const errText = await text(providerRow("mock-fast"));
    assert(errText.includes("unavailable"), `no failure reason: ${errText}`);
    await shot("routing-breaker-open");
  } finally {
    await fault("mock-fast", { fail: false });
  }
  await page.waitForFunction(
    () => document.querySelector('[data-provider="mock-fast"] [data-testid="breaker-state"]')?.getAttribute("data-state") === "closed",
    null,
    { timeout: 10_000 },
  );
});

test("routing: the active policy validates, an edited one shows the error with its line, nothing is applied", async () => {
  const note = await text(page.locator('[data-testid="policy-apply-note"]'));
  assert(note.includes("Validate only checks") && note.includes("Apply puts it into effect") && note.includes("after a restart"), `note: ${note}`);
  assert(!/never|only when Hearth is restarted/.test(note), `the note still says a policy is never applied: ${note}`);
  await page.locator('[data-testid="policy-load-active"]').click();
  const editor = page.locator('[data-testid="policy-editor"]');
  const active = await editor.inputValue();
  assert(active.includes("[routes.extract]") && active.includes("[tiers.free]"), "the active policy was not loaded");
  await page.locator('[data-testid="policy-validate"]').click();
  const valid = page.locator('[data-testid="policy-valid"]');
  await valid.waitFor({ timeout: 5000 });
  assert((await text(valid)).includes("3 routes (chat, extract, reasoning)"), `summary: ${await text(valid)}`);

  // An unknown key in [routes.chat]: the server names its line.
  const edited = active.replace("[routes.chat]\n", "[routes.chat]\nbogus = 3\n");
  const expectedLine = edited.split("\n").indexOf("bogus = 3") + 1;
  await editor.fill(edited);
  await editor.press("Control+Enter");
  const invalid = page.locator('[data-testid="policy-invalid"]');
  await invalid.waitFor({ timeout: 5000 });
  assert((await invalid.getAttribute("data-code")) === "invalid_policy", "code");
  const line = await text(page.locator('[data-testid="policy-error-line"]'));
  assert(line.startsWith(`line ${expectedLine}`), `shown ${line}, expected line ${expectedLine}`);
  assert((await text(invalid)).includes("unknown field `bogus`"), "the server's message is not shown");
  await page.locator('[data-testid="policy-goto-line"]').click();
  const selected = await editor.evaluate((el) => el.value.slice(el.selectionStart, el.selectionEnd));
  assert(selected === "bogus = 3", `selected: ${selected}`);
  await page.locator('[data-testid="policy-invalid"]').scrollIntoViewIfNeeded();
  await shot("routing-policy-error");

  // Validation changed nothing: the server runs the same policy.
  const { policy } = await api("GET", "/admin/policy");
  assert(Object.keys(policy.routes).length === 3 && policy.routes.chat.primary === "fallback_balanced", "the policy changed");
});

/** The text with `key = …` of table `[section]` replaced by `key = value` (the line must exist). */
function setTomlKey(toml, section, key, value) {
  const lines = toml.split("\n");
  const start = lines.indexOf(`[${section}]`);
  assert(start >= 0, `no [${section}] in the policy`);
  for (let i = start + 1; i < lines.length && !lines[i].startsWith("["); i++) {
    if (lines[i].startsWith(`${key} = `)) {
      lines[i] = `${key} = ${value}`;
      return lines.join("\n");
    }
  }
  throw new Error(`no ${key} in [${section}]`);
}

test("routing: Apply an edited policy: confirmed, the routes table changes, new chats on that task go to the new primary", async () => {
  const before = (await api("GET", "/admin/policy")).policy;
  const NEW_PRIMARY = "strong_reasoner";
  const address = before.models[NEW_PRIMARY]?.address;
  assert(address && before.routes.chat.primary !== NEW_PRIMARY, `the demo policy changed: ${JSON.stringify(before.routes.chat)}`);

  await open("routing");
  await page.reload({ waitUntil: "domcontentloaded" }); // an empty editor, not the last test's text
  const chatPrimary = page.locator('[data-testid="route-row"][data-task="chat"] [data-testid="route-model"] strong').first();
  await chatPrimary.waitFor();
  assert((await text(chatPrimary)) === before.routes.chat.primary, `chat's primary shown as ${await text(chatPrimary)}`);
  const editor = page.locator('[data-testid="policy-editor"]');
  const apply = page.locator('[data-testid="policy-apply"]');
  assert(await apply.isDisabled(), "Apply is enabled with an empty editor");
  await page.locator('[data-testid="policy-load-active"]').click();
  const active = await editor.inputValue();

  // A text that does not validate: Apply validates first, shows the line, asks nothing.
  const broken = active.replace("[routes.chat]\n", "[routes.chat]\nbogus = 3\n");
  await editor.fill(broken);
  await apply.click();
  await page.locator('[data-testid="policy-invalid"]').waitFor({ timeout: 5000 });
  assert((await text(page.locator('[data-testid="policy-error-line"]'))).startsWith(`line ${broken.split("\n").indexOf("bogus = 3") + 1}`), "no line");
  assert((await page.locator('[data-testid="confirm"]').count()) === 0, "asked to apply an invalid policy");
  assert(await apply.isDisabled(), "Apply stays enabled for a text that does not validate");

  // chat's primary becomes strong_reasoner. Validate, then Apply asks first; Cancel applies nothing.
  await editor.fill(setTomlKey(active, "routes.chat", "primary", `"${NEW_PRIMARY}"`));
  assert(await apply.isEnabled(), "Apply disabled after an edit");
  await page.locator('[data-testid="policy-validate"]').click();
  await page.locator('[data-testid="policy-valid"]').waitFor({ timeout: 5000 });
  assert((await apply.getAttribute("data-step")) === "confirm", `step after Validate: ${await apply.getAttribute("data-step")}`);
  await apply.click();
  const confirm = page.locator('[data-testid="confirm"]');
  await confirm.waitFor();
  assert((await text(confirm)).includes("Apply this policy to every new request?"), `confirm: ${await text(confirm)}`);
  await page.locator('[data-testid="confirm-no"]').click();
  assert((await api("GET", "/admin/policy")).policy.routes.chat.primary === before.routes.chat.primary, "Cancel applied the policy");

  await apply.click();
  // The editor starts from the TOML the server read (the demo's, which has [resilience] and
  // [cache] but no [server]): the question names only what is left out.
  const missing = await text(page.locator('[data-testid="policy-missing-sections"]'));
  assert(
    missing.includes("[server]") && !missing.includes("[resilience]") && missing.includes("running settings"),
    `missing sections: ${missing}`,
  );
  await page.locator('[data-testid="confirm"]').scrollIntoViewIfNeeded();
  await shot("routing-apply-confirm");
  await page.locator('[data-testid="confirm-yes"]').click();
  const applied = page.locator('[data-testid="policy-applied"]');
  await applied.waitFor({ timeout: 10_000 });
  assert((await text(applied)).includes("3 routes (chat, extract, reasoning)"), `applied: ${await text(applied)}`);
  // The demo's providers did not change: nothing waits for a restart.
  assert((await page.locator('[data-testid="policy-restart-needed"]').count()) === 0, "a restart is asked for");
  assert(await apply.isDisabled(), "Apply enabled for the text just applied");
  // Saved where the next start reads it.
  const savedTo = await text(page.locator('[data-testid="policy-saved-to"]'));
  assert(savedTo.startsWith(dataDir) && readFileSync(savedTo, "utf8").includes(`primary = "${NEW_PRIMARY}"`), `saved to ${savedTo}`);
  await page.waitForFunction((p) => {
    const el = document.querySelector('[data-testid="route-row"][data-task="chat"] [data-testid="route-model"] strong');
    return el?.textContent === p;
  }, NEW_PRIMARY, { timeout: 10_000 });
  assert((await text(page.locator('[data-testid="route-row"][data-task="chat"]'))).includes(address), "the new primary's address is not shown");
  assert((await api("GET", "/admin/policy")).policy.routes.chat.primary === NEW_PRIMARY, "the server does not run the new policy");
  await applied.scrollIntoViewIfNeeded();
  await shot("routing-applied-editor");
  await page.locator('[data-testid="routes-table"]').scrollIntoViewIfNeeded();
  await shot("routing-applied");

  // A new request on the task goes to the new primary: the answer's model, its hearth
  // extension's provider, and its audit event say so.
  const res = await fetch(`${server.base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "hearth/chat", messages: [{ role: "user", content: `after the new policy ${Date.now()}` }] }),
  });
  assert(res.status === 200, `chat after apply: ${res.status}`);
  const answer = await res.json();
  assert(answer.model === address, `answered by ${answer.model}, expected ${address}`);
  assert(answer.hearth?.provider === before.models[NEW_PRIMARY].provider, `hearth: ${JSON.stringify(answer.hearth)}`);
  const trace = res.headers.get("x-hearth-trace-id");
  const { events } = await api("GET", "/audit?limit=20");
  const ev = events.find((e) => e.trace_id === trace);
  assert(ev && ev.model === address && ev.task === "chat" && !ev.fallback_used, `audit event: ${JSON.stringify(ev)}`);
  // And the feed shows it.
  await page.locator(`[data-testid="decision-row"][data-trace="${trace}"]`, { hasText: address }).waitFor({ timeout: 10_000 });

  // The demo's policy back, for the tests after this one.
  await api("PUT", "/admin/policy", { toml: active });
  assert((await api("GET", "/admin/policy")).policy.routes.chat.primary === before.routes.chat.primary, "the demo policy was not restored");
}, 45_000);

test("a user key sees 'needs an admin key' with the server's code, and the feed of its own workspace", async () => {
  const created = await api("POST", "/admin/keys", { workspace: "tenant_pro", role: "user", user: "riley" });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const p = await ctx.newPage();
    await p.addInitScript((key) => localStorage.setItem("hearth.apiKey", key), created.key);
    await open("costs", p);
    const notice = p.locator('[data-testid="needs-admin"]');
    await notice.waitFor({ timeout: 10_000 });
    assert((await notice.getAttribute("data-code")) === "forbidden", "code");
    assert((await text(notice)).includes("needs an admin key") && (await text(notice)).includes("admin role"), `notice: ${await text(notice)}`);
    await shot("costs-user-key", p);
    await open("routing", p);
    await p.locator('[data-testid="needs-admin"]').waitFor({ timeout: 10_000 });
    await p.locator('[data-testid="decision-row"]').first().waitFor({ timeout: 10_000 });
    assert((await p.locator('[data-testid="providers-table"]').count()) === 0, "admin tables shown to a user");
  } finally {
    await ctx.close();
  }
});

test("screenshots: 1280x800 routing, 1920x1080 and dark", async () => {
  await open("routing");
  await page.locator('[data-testid="decision-row"]').first().waitFor();
  await page.evaluate(() => document.querySelector(".ins-page")?.scrollTo(0, 0));
  await shot("routing");
  const big = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  try {
    const p = await big.newPage();
    await open("costs", p);
    await p.locator('[data-testid="daily-chart"] canvas').first().waitFor();
    await shot("costs-1920", p);
    await open("routing", p);
    await p.locator('[data-testid="decision-row"]').first().waitFor();
    await p.locator('[data-testid="routes-table"]').waitFor();
    await shot("routing-1920", p);
  } finally {
    await big.close();
  }
  const dark = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "dark" });
  try {
    const p = await dark.newPage();
    await open("costs", p);
    await p.locator('[data-testid="daily-chart"] canvas').first().waitFor();
    await shot("costs-dark", p);
    await open("routing", p);
    await p.locator('[data-testid="decision-row"]').first().waitFor();
    await shot("routing-dark", p);
  } finally {
    await dark.close();
  }
});

// ---------------------------------------------------------------------------------------

await runSuite(tests, {
  failedPrefix: "FAILED-routing-costs-",
  onReady: (env) => {
    ({ server, browser, page, token, api, dataDir } = env);
  },
});
