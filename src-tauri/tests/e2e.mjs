// The desktop app through its real window: tauri-driver (WebDriver on :4444) launches
// HEARTH_APP with HEARTH_APP_ARGS via WebKitWebDriver; this client waits for the UI to
// render, takes screenshots, and sends one chat message, expecting an answer.
// Plain fetch against the WebDriver protocol; no npm dependency. Run by scripts/desktop-test
// (inside xvfb-run, with a throwaway data dir and HOME).
import { spawn } from "node:child_process";
import { writeFileSync, openSync } from "node:fs";
import { join } from "node:path";

const APP = need("HEARTH_APP");
const ARGS = (process.env.HEARTH_APP_ARGS ?? "").split(" ").filter(Boolean);
const OUT = need("HEARTH_OUT");
const DRIVER = need("TAURI_DRIVER");
const PORT = 4444;
const BASE = `http://127.0.0.1:${PORT}`;

const t0 = Date.now();
let last = t0;
function mark(what) {
  const now = Date.now();
  console.log(`  ${((now - t0) / 1000).toFixed(2).padStart(7)}s (+${((now - last) / 1000).toFixed(2)}s) ${what}`);
  last = now;
}
function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function wd(method, path, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const v = json.value ?? {};
    throw new Error(`${method} ${path}: ${res.status} ${v.error ?? ""} ${v.message ?? JSON.stringify(json)}`);
  }
  return json.value;
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
async function until(what, ms, fn) {
  const end = Date.now() + ms;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${lastErr ? `: ${lastErr.message}` : ""}`);
    await sleep(200);
  }
}

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

async function main() {
  const driverLog = openSync(join(OUT, "tauri-driver.log"), "w");
  const driver = spawn(DRIVER, ["--port", String(PORT)], { stdio: ["ignore", driverLog, driverLog] });
  let session;
  try {
    await until("tauri-driver on :4444", 20_000, async () => (await fetch(`${BASE}/status`)).ok);
    mark("tauri-driver is up");

    session = await wd("POST", "/session", {
      capabilities: { alwaysMatch: { "tauri:options": { application: APP, args: ARGS } } },
    });
    const s = `/session/${session.sessionId}`;
    mark(`app launched, WebDriver session ${session.sessionId}`);

    const find = async (css) => (await wd("POST", `${s}/element`, { using: "css selector", value: css }))[ELEMENT];
    const findAll = async (css) =>
      (await wd("POST", `${s}/elements`, { using: "css selector", value: css })).map((e) => e[ELEMENT]);
    const exec = (script, args = []) => wd("POST", `${s}/execute/sync`, { script, args });
    const execAsync = (script, args = []) => wd("POST", `${s}/execute/async`, { script, args });
    const screenshot = async (name) => {
      // WebKit's snapshot lags one repaint: let two frames pass first.
      await execAsync("const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));");
      const png = await wd("GET", `${s}/screenshot`);
      const file = join(OUT, name);
      writeFileSync(file, Buffer.from(png, "base64"));
      return file;
    };

    const url = await wd("GET", `${s}/url`);
    if (!/^http:\/\/127\.0\.0\.1:\d+\/$/.test(url)) throw new Error(`the window shows ${url}, not the embedded gateway`);
    mark(`window shows ${url}`);

    await until("the UI's nav", 30_000, () => find('nav[aria-label="Views"]'));
    await until("the Chat view's composer", 30_000, () => find('[data-testid="composer"]'));
    mark("UI rendered (nav and composer)");

    const host = await exec("return window.__HEARTH__ ? { baseUrl: window.__HEARTH__.baseUrl, token: !!window.__HEARTH__.token } : null;");
    if (!host || !host.token || `${host.baseUrl}/` !== url) throw new Error(`window.__HEARTH__ is ${JSON.stringify(host)}`);
    // The gateway refuses a call without the token, even from the UI's own origin.
    const anon = await execAsync(
      "const done = arguments[arguments.length - 1]; fetch('/v1/models').then(r => done(r.status), e => done(String(e)));",
    );
    if (anon !== 401) throw new Error(`a call without the token got ${anon}, not 401`);
    mark("host object injected for the gateway origin; a call without the token is refused (401)");

    mark(`screenshot ${await screenshot("01-ui.png")}`);

    // One flow through the shell: the Chat view answers a message (demo mock providers).
    await wd("POST", `${s}/element/${await find('[data-testid="nav-chat"]')}/click`, {});
    const composer = await find('[data-testid="composer"]');
    await wd("POST", `${s}/element/${composer}/click`, {});
    await wd("POST", `${s}/element/${composer}/value`, { text: "Hello from the desktop test" });
    const send = await until("an enabled Send button", 15_000, async () => {
      const id = await find('[data-testid="send"]');
      return (await wd("GET", `${s}/element/${id}/enabled`)) ? id : null;
    });
    await wd("POST", `${s}/element/${send}/click`, {});
    mark("message sent");

    const answer = await until("an assistant answer", 30_000, async () => {
      for (const id of await findAll('[data-testid="msg-assistant"]')) {
        const status = await wd("GET", `${s}/element/${id}/attribute/data-status`);
        if (status === "error") throw new Error(`the answer failed: ${await wd("GET", `${s}/element/${id}/text`)}`);
        if (status === "done") return wd("GET", `${s}/element/${id}/text`);
      }
      return null;
    });
    const user = await find('[data-testid="msg-user"]');
    const userText = await wd("GET", `${s}/element/${user}/text`);
    if (!userText.includes("Hello from the desktop test")) throw new Error(`the user's message reads ${userText}`);
    mark(`answer: ${JSON.stringify(answer.slice(0, 160))}`);
    mark(`screenshot ${await screenshot("02-chat.png")}`);

    // The screen as X shows it: the native window, not only the webview's snapshot.
    await new Promise((resolve) => {
      const p = spawn("import", ["-window", "root", join(OUT, "03-screen.png")], { stdio: "inherit" });
      p.on("exit", resolve);
      p.on("error", (e) => {
        console.log(`  (no root screenshot: ${e.message})`);
        resolve();
      });
    });
    mark(`screenshot ${join(OUT, "03-screen.png")}`);
  } catch (e) {
    // What the window showed when it failed.
    if (session) {
      const s = `/session/${session.sessionId}`;
      await wd("GET", `${s}/source`).then((html) => writeFileSync(join(OUT, "fail.html"), html)).catch(() => {});
      await wd("GET", `${s}/screenshot`).then((png) => writeFileSync(join(OUT, "fail.png"), Buffer.from(png, "base64"))).catch(() => {});
      console.log(`  failure page and screenshot in ${OUT}/fail.{html,png}`);
    }
    throw e;
  } finally {
    if (session) await wd("DELETE", `/session/${session.sessionId}`).catch((e) => console.log(`  closing: ${e.message}`));
    driver.kill("SIGTERM");
  }
  mark("PASS");
}

main().catch((e) => {
  console.error(`FAIL: ${e.message}`);
  process.exit(1);
});
