// The active policy (GET /admin/policy, JSON) written back as a policy file in the format
// of docs/CONFIG.md, so the editor can start from what the server runs. `[server]`,
// `[resilience]` and `[cache]` are not part of that answer and are left out.

import type { ModelSpec, Policy, ProviderConfig, RouteSpec, TierSpec } from "../api/insights";

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** A key as TOML writes it: bare when it can be, else quoted. */
export function tomlKey(k: string): string {
  return BARE_KEY.test(k) ? k : tomlString(k);
}

export function tomlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A value; null and undefined have no TOML form and are left out by the callers. */
export function tomlValue(v: unknown): string {
  if (typeof v === "string") return tomlString(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`no TOML form for ${v}`);
    // Integers stay integers; a float keeps a decimal point (TOML types them apart).
    return Number.isInteger(v) && Math.abs(v) < 2 ** 53 ? String(v) : floatText(v);
  }
  if (Array.isArray(v)) return `[${v.filter((x) => x !== null && x !== undefined).map(tomlValue).join(", ")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== null && x !== undefined);
    return entries.length === 0 ? "{}" : `{ ${entries.map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`).join(", ")} }`;
  }
  throw new Error(`no TOML form for ${String(v)}`);
}

/** A float with a decimal point and no exponent TOML would misread: 1.0, 0.0002, 2e-7 → 0.0000002. */
export function floatText(v: number): string {
  let s = String(v);
  if (/e/i.test(s)) s = v.toFixed(20).replace(/0+$/, "");
  if (!s.includes(".")) s += ".0";
  if (s.endsWith(".")) s += "0";
  return s;
}

/** A number the policy keeps as a float (prices, budgets): always with a decimal point. */
function float(v: number): string {
  return floatText(v);
}

function line(k: string, v: string): string {
  return `${tomlKey(k)} = ${v}`;
}

function providerTable(name: string, c: ProviderConfig): string[] {
  const out = [`[providers.${tomlKey(name)}]`, line("kind", tomlString(c.kind))];
  for (const [k, v] of Object.entries(c)) {
    if (k === "kind" || v === null || v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out.push(line(k, tomlValue(v)));
  }
  return out;
}

function modelTable(alias: string, m: ModelSpec): string[] {
  const out = [
    `[models.${tomlKey(alias)}]`,
    line("provider", tomlString(m.provider)),
    line("model_id", tomlString(m.model_id)),
    line("max_output_tokens", String(m.max_output_tokens)),
    line("input_usd_per_1m", float(m.prices.input_usd_per_1m)),
    line("output_usd_per_1m", float(m.prices.output_usd_per_1m)),
  ];
  if (m.prices.cached_input_usd_per_1m !== null && m.prices.cached_input_usd_per_1m !== undefined) {
    out.push(line("cached_input_usd_per_1m", float(m.prices.cached_input_usd_per_1m)));
  }
  return out;
}

function routeTable(task: string, r: RouteSpec): string[] {
  const out = [`[routes.${tomlKey(task)}]`, line("primary", tomlString(r.primary)), line("fallbacks", tomlValue(r.fallbacks))];
  if (r.max_output_tokens !== null && r.max_output_tokens !== undefined) out.push(line("max_output_tokens", String(r.max_output_tokens)));
  return out;
}

function tierTable(name: string, t: TierSpec): string[] {
  const allowed = [
    ...[...t.allowed_providers].sort().map((p) => (p === "*" ? "*" : `${p}/*`)),
    ...[...t.allowed_models].sort(),
  ];
  const out = [
    `[tiers.${tomlKey(name)}]`,
    line("allowed_models", tomlValue(allowed)),
    line("default_model", tomlString(t.default_model)),
    line("daily_budget_usd", float(t.daily_budget_usd)),
    line("max_output_tokens", String(t.max_output_tokens)),
  ];
  if (t.rpm !== null && t.rpm !== undefined) out.push(line("rpm", String(t.rpm)));
  out.push(line("on_budget_exhausted", tomlString(String(t.on_budget_exhausted))));
  if (t.downgrade_model) out.push(line("downgrade_model", tomlString(t.downgrade_model)));
  out.push(line("on_route_not_allowed", tomlString(String(t.on_route_not_allowed))));
  return out;
}

/** The whole policy as a file: providers, models, routes, tiers, each sorted by name. */
export function policyToToml(p: Policy): string {
  const blocks: string[][] = [];
  const sorted = <T>(r: Record<string, T>) => Object.entries(r).sort(([a], [b]) => a.localeCompare(b));
  for (const [k, v] of sorted(p.providers)) blocks.push(providerTable(k, v));
  for (const [k, v] of sorted(p.models)) blocks.push(modelTable(k, v));
  for (const [k, v] of sorted(p.routes)) blocks.push(routeTable(k, v));
  for (const [k, v] of sorted(p.tiers)) blocks.push(tierTable(k, v));
  const head = [
    "# The active policy, as GET /admin/policy reports it.",
    "# [server], [resilience] and [cache] are not part of that answer: add yours if your file has them.",
  ];
  return `${[head, ...blocks].map((b) => b.join("\n")).join("\n\n")}\n`;
}
