// What every end-to-end suite shares: a real `hearth serve --demo` on a free loopback port
// with a fresh data dir, Debian's Chromium driven by playwright-core, a tiny test runner
// and helpers over the API and the page. A suite (run.mjs, admin-audit.mjs, ...) declares
// its tests with `suite()` and hands them to `runSuite`.
//
// It builds nothing: it needs ui/dist (npm run build) and target/debug/hearth (cargo build).
// Screenshots land in ui/test-output/. The last line a suite prints is "N passed, M failed".
//
// Environment: HEARTH_BIN (default ../target/debug/hearth), CHROMIUM (default
// /usr/bin/chromium), E2E_ONLY (run only tests whose name contains it).

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const uiDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const repo = resolve(uiDir, "..");
export const bin = process.env.HEARTH_BIN ?? join(repo, "target/debug/hearth");
export const dist = join(uiDir, "dist");
export const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const out = join(uiDir, "test-output");
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function die(msg) {
  console.error(`e2e: ${msg}`);
  process.exit(2);
}

/** Stops early (exit 2) when a build or the browser is missing. */
export function requirePrereqs() {
  if (!existsSync(bin)) die(`${bin} is missing: build it first (cargo build --bin hearth)`);
  if (!existsSync(join(dist, "index.html"))) die(`${dist}/index.html is missing: run npm run build first`);
  if (!existsSync(chromiumPath)) die(`${chromiumPath} is missing: apt-get install chromium`);
  mkdirSync(out, { recursive: true });
}

// ---------------------------------------------------------------------------------------
// The server

/** Starts the gateway and resolves with its base URL once it prints its address. */
export function startServer(dataDir, extraEnv = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, ["serve", "--demo", "--addr", "127.0.0.1:0", "--data-dir", dataDir], {
      env: { ...process.env, HEARTH_UI_DIR: dist, RUST_LOG: process.env.RUST_LOG ?? "warn", ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      reject(new Error(`hearth did not print its address within 60 s:\n${log}`));
    }, 60_000);
    const onData = (d) => {
      log += d.toString();
      const m = /hearth listening on (http:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, base: m[1], log: () => log });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d) => {
      log += d.toString();
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`hearth exited with ${code} before listening:\n${log}`));
    });
  });
}

/** SIGTERM, then SIGKILL after 5 s. */
export async function stopServer(server) {
  if (!server || server.child.exitCode !== null) return;
  server.child.kill("SIGTERM");
  await new Promise((r) => {
    const t = setTimeout(() => {
      server.child.kill("SIGKILL");
      r();
    }, 5000);
    server.child.on("exit", () => {
      clearTimeout(t);
      r();
    });
  });
}

// ---------------------------------------------------------------------------------------
// A tiny runner

export class AssertionError extends Error {}

export function assert(cond, msg) {
  if (!cond) throw new AssertionError(msg);
}

export function withTimeout(p, ms, name) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${name}: timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** A list of tests and the function that adds one. */
export function suite() {
  const tests = [];
  const test = (name, fn, timeoutMs = 30_000) => tests.push({ name, fn, timeoutMs });
  return { tests, test };
}

// ---------------------------------------------------------------------------------------
// Helpers over the API and the page

/** A JSON call to the server with the demo's token; throws on a non-2xx answer. */
export function apiOf(base, token) {
  return async function api(method, path, body, headers = {}) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

/** A screenshot in test-output/NAME.png, after two frames so the last React commit is painted. */
export async function shot(p, name) {
  await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await p.screenshot({ path: join(out, `${name}.png`) });
}

/** The trimmed text of a locator. */
export async function text(locator) {
  return (await locator.textContent())?.trim() ?? "";
}

// ---------------------------------------------------------------------------------------
// A whole run

/**
 * Starts the server and the browser, hands them to `onReady` ({server, browser, page,
 * token, api}), runs the tests in order, checks the page logged no script errors, tears
 * everything down, prints "N passed, M failed" and exits with 1 on any failure.
 * `failedPrefix` names the screenshots of failed tests (old ones with it are removed).
 */
export async function runSuite(tests, { onReady, serverEnv = {}, failedPrefix = "FAILED-" } = {}) {
  requirePrereqs();
  for (const f of readdirSync(out)) if (f.startsWith(failedPrefix)) rmSync(join(out, f));
  const dataDir = mkdtempSync(join(tmpdir(), "hearth-ui-e2e-"));
  let server;
  let browser;
  let page;
  let passed = 0;
  let failed = 0;
  const consoleErrors = [];
  try {
    server = await startServer(dataDir, typeof serverEnv === "function" ? serverEnv(dataDir) : serverEnv);
    const token = (await (await fetch(`${server.base}/session`)).json()).token;
    if (!token) throw new Error("GET /session gave no token in the demo");
    browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS, headless: true });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
    page = await ctx.newPage();
    page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      // The 4xx of the error tests are expected, and so are the 503s of GET /ready while a route
      // has no usable provider (the top bar polls it) and of a chat no provider could answer
      // (the test of that error); script errors are not.
      const expected503 = /status of 503/.test(m.text()) && /\/(ready|v1\/chat\/completions)$/.test(m.location().url ?? "");
      if (m.type() === "error" && !/status of 4\d\d/.test(m.text()) && !expected503) consoleErrors.push(m.text());
    });
    await onReady?.({ server, browser, page, token, api: apiOf(server.base, token), dataDir });
    const only = process.env.E2E_ONLY;
    for (const t of tests) {
      if (only && !t.name.includes(only)) continue;
      const t0 = Date.now();
      try {
        await withTimeout(t.fn(), t.timeoutMs, t.name);
        passed++;
        console.log(`ok   ${t.name} (${Date.now() - t0} ms)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${t.name} (${Date.now() - t0} ms)\n     ${String(e && e.stack ? e.stack : e).split("\n").slice(0, 4).join("\n     ")}`);
        const safe = t.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
        await page.screenshot({ path: join(out, `${failedPrefix}${safe}.png`) }).catch(() => {});
      }
    }
    if (consoleErrors.length > 0) {
      failed++;
      console.log(`FAIL the page logged errors:\n     ${consoleErrors.join("\n     ")}`);
    } else {
      passed++;
      console.log("ok   no script errors in the page");
    }
  } catch (e) {
    failed++;
    console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`);
    if (server) console.log(server.log());
  } finally {
    await browser?.close().catch(() => {});
    await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(`screenshots in ${out}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}
