// The prompt registry without React: versions grouped by prompt, the next version's name,
// the variables a template uses, the new-version form checked into the API's body, and the
// metadata that makes a chat request use a version with its variables.

import type { NewPromptVersion, PromptVersion, ResponseFormat, RolloutStatus } from "../api/admin";
import { listOf, type FormErrors } from "./forms";

export interface PromptGroup {
  /** `scope/prompt_id`: a workspace may have its own prompt of the same id. */
  key: string;
  prompt_id: string;
  /** `""` install-wide, else the workspace. */
  scope: string;
  /** Newest first. */
  versions: PromptVersion[];
}

/** Compares version names so that v10 comes after v9. */
export function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true, sensitivity: "base" });
}

/** Versions grouped by prompt (and scope), prompts by id, versions newest first. */
export function groupPrompts(list: PromptVersion[]): PromptGroup[] {
  const groups = new Map<string, PromptGroup>();
  for (const v of list) {
    const key = `${v.scope}/${v.prompt_id}`;
    let g = groups.get(key);
    if (!g) {
      g = { key, prompt_id: v.prompt_id, scope: v.scope, versions: [] };
      groups.set(key, g);
    }
    g.versions.push(v);
  }
  const out = [...groups.values()];
  for (const g of out) g.versions.sort((a, b) => b.created_at_ms - a.created_at_ms || compareVersions(b.version, a.version));
  return out.sort((a, b) => a.prompt_id.localeCompare(b.prompt_id) || a.scope.localeCompare(b.scope));
}

/** The version serving everyone (not in the canary), if any. */
export function stableOf(g: PromptGroup): PromptVersion | undefined {
  return g.versions.find((v) => v.status === "stable");
}

export function canaryOf(g: PromptGroup): PromptVersion | undefined {
  return g.versions.find((v) => v.status === "canary");
}

/** How a version's variables differ from those callers send today (the stable version's). */
export interface VariableChange {
  stable: string;
  /** Declared by the version, not sent by callers: their requests fail with prompt_variable_missing. */
  missing: string[];
  /** Sent by callers, not taken by the version: their requests fail with invalid_request. */
  unused: string[];
}

/**
 * What putting `version` in front of callers would break, or null when nothing: rendering
 * takes exactly the declared variables, and callers send the stable version's. The server
 * refuses such a promotion unless it is forced.
 */
export function variableChange(g: PromptGroup, version: string): VariableChange | null {
  const stable = stableOf(g);
  const target = g.versions.find((v) => v.version === version);
  if (!stable || !target || stable.version === version) return null;
  const missing = target.variables.filter((v) => !stable.variables.includes(v));
  const unused = stable.variables.filter((v) => !target.variables.includes(v));
  return missing.length || unused.length ? { stable: stable.version, missing, unused } : null;
}

/** A name for the next version: v3 after v1 and v2; else the newest name with "-next". */
export function nextVersion(versions: string[]): string {
  let max = 0;
  let numbered = false;
  for (const v of versions) {
    const m = /^v(\d+)$/i.exec(v);
    if (m) {
      numbered = true;
      max = Math.max(max, Number(m[1]));
    }
  }
  if (numbered || versions.length === 0) return `v${max + 1}`;
  let name = `${versions[0]}-next`;
  while (versions.includes(name)) name += "-next";
  return name;
}

/** The variables a template reads (`{{ name }}`, `{{ name | filter }}`, `{% if name %}`), in order. */
export function templateVariables(template: string): string[] {
  const out: string[] = [];
  const add = (n: string | undefined) => {
    if (n && !out.includes(n) && !KEYWORDS.has(n)) out.push(n);
  };
  for (const m of template.matchAll(/\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)/g)) add(m[1]);
  for (const m of template.matchAll(/\{%-?\s*(?:if|elif)\s+(?:not\s+)?([A-Za-z_][A-Za-z0-9_]*)/g)) add(m[1]);
  return out;
}

const KEYWORDS = new Set(["true", "false", "none", "True", "False", "None", "loop", "not"]);

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ID = /^[A-Za-z0-9_.-]+$/;

/** The new-version form as typed. */
export interface PromptForm {
  prompt_id: string;
  version: string;
  template: string;
  /** Comma-separated names. */
  variables: string;
  owner: string;
  /** Comma- or line-separated model ids. */
  compatible_models: string;
  schema_version: string;
  response_format: ResponseFormat;
  /** A JSON object of scores, or empty. */
  eval: string;
  changelog: string;
  status: Exclude<RolloutStatus, "deprecated">;
  /** "" for install-wide. */
  workspace: string;
}

/** A form that starts from a version (its text and metadata), named as the next one. */
export function formFrom(base: PromptVersion | undefined, siblings: string[], promptId = ""): PromptForm {
  return {
    prompt_id: base?.prompt_id ?? promptId,
    version: nextVersion(siblings),
    template: base?.template ?? "",
    variables: (base?.variables ?? []).join(", "),
    owner: base?.owner ?? "",
    compatible_models: (base?.compatible_models ?? []).join(", "),
    schema_version: base?.schema_version ?? "",
    response_format: base?.response_format === "json_object" ? "json_object" : "text",
    eval: base && Object.keys(base.eval).length > 0 ? JSON.stringify(base.eval) : "",
    changelog: "",
    status: "draft",
    workspace: base?.scope ?? "",
  };
}

/** The body of `POST /admin/prompts`, or what is wrong with the form. */
export function promptBody(form: PromptForm): { body: NewPromptVersion | null; errors: FormErrors<PromptForm> } {
  const errors: FormErrors<PromptForm> = {};
  const id = form.prompt_id.trim();
  const version = form.version.trim();
  if (!id) errors.prompt_id = "required";
  else if (!ID.test(id)) errors.prompt_id = "letters, digits, '_', '.' or '-'";
  if (!version) errors.version = "required";
  else if (!ID.test(version)) errors.version = "letters, digits, '_', '.' or '-'";
  if (!form.template.trim()) errors.template = "required";
  if (!form.owner.trim()) errors.owner = "required";
  const variables = listOf(form.variables);
  const bad = variables.filter((v) => !NAME.test(v));
  if (bad.length > 0) errors.variables = `not a variable name: ${bad.join(", ")}`;
  let evalObj: Record<string, unknown> = {};
  if (form.eval.trim()) {
    try {
      const parsed: unknown = JSON.parse(form.eval);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) errors.eval = "a JSON object, e.g. {\"exact_json_rate\": 0.99}";
      else evalObj = parsed as Record<string, unknown>;
    } catch (e) {
      errors.eval = `not JSON: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  if (Object.keys(errors).length > 0) return { body: null, errors };
  const body: NewPromptVersion = {
    prompt_id: id,
    version,
    template: form.template,
    variables,
    owner: form.owner.trim(),
    compatible_models: listOf(form.compatible_models),
    schema_version: form.schema_version.trim() || null,
    response_format: form.response_format,
    eval: evalObj,
    changelog: form.changelog.trim(),
  };
  if (form.status !== "draft") body.status = form.status;
  if (form.workspace) body.workspace = form.workspace;
  return { body, errors };
}

/** The `metadata` of a chat request that uses this version with these variables. */
export function promptMetadata(promptId: string, version: string, variables: Record<string, string>): Record<string, string> {
  const meta: Record<string, string> = { prompt_id: promptId, prompt_version: version };
  for (const [k, v] of Object.entries(variables)) meta[`var_${k}`] = v;
  return meta;
}

/** The variables a version declares, with what was typed for them ("" when nothing). */
export function variablesFor(version: PromptVersion | undefined, typed: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of version?.variables ?? []) out[name] = typed[name] ?? "";
  return out;
}

/** A share (0-1) as a whole percent: "10%". */
export function formatShare(share: number): string {
  return `${Math.round(share * 1000) / 10}%`;
}

// ---------------------------------------------------------------------------------------
// The Chat view's prompt picker

/** What the Chat composer's prompt picker holds. */
export interface PromptPick {
  /** A group's key (`scope/prompt_id`), or "" for no prompt. */
  key: string;
  /** A version name, or "" to let the registry route (stable, or the canary for its share). */
  version: string;
  /** What was typed per variable name. */
  typed: Record<string, string>;
}

export const NO_PROMPT: PromptPick = { key: "", version: "", typed: {} };

/** A version as an option: "v2 · canary 10%", "v1 · stable". */
export function versionOptionLabel(v: PromptVersion): string {
  return `${v.version} · ${v.status}${v.status === "canary" ? ` ${formatShare(v.canary_share)}` : ""}`;
}

/**
 * The variables to ask for: those of the chosen version; when routed, those of the versions
 * the router may serve (stable and canary, else the newest), in order and without repeats.
 */
export function pickVariables(group: PromptGroup | undefined, version: string): string[] {
  if (!group) return [];
  if (version) return group.versions.find((v) => v.version === version)?.variables ?? [];
  const served = [stableOf(group), canaryOf(group)].filter((v): v is PromptVersion => v !== undefined);
  const from = served.length > 0 ? served : group.versions.slice(0, 1);
  const out: string[] = [];
  for (const v of from) for (const n of v.variables) if (!out.includes(n)) out.push(n);
  return out;
}

/**
 * The `metadata` of a chat request for the picker's state: none without a prompt; else
 * `prompt_id`, `prompt_version` when a version is chosen, and `var_<name>` for each variable
 * asked for (typed text for variables no longer asked for is left out).
 */
export function chatPromptMetadata(groups: PromptGroup[], pick: PromptPick): Record<string, string> | undefined {
  const group = groups.find((g) => g.key === pick.key);
  if (!group) return undefined;
  const meta: Record<string, string> = { prompt_id: group.prompt_id };
  if (pick.version && group.versions.some((v) => v.version === pick.version)) meta.prompt_version = pick.version;
  for (const name of pickVariables(group, meta.prompt_version ?? "")) meta[`var_${name}`] = pick.typed[name] ?? "";
  return meta;
}

/** The pick still valid after the list changed (a workspace switch): else no prompt or routed. */
export function keepPick(groups: PromptGroup[], pick: PromptPick): PromptPick {
  const group = groups.find((g) => g.key === pick.key);
  if (!group) return pick.key ? NO_PROMPT : pick;
  if (pick.version && !group.versions.some((v) => v.version === pick.version)) return { ...pick, version: "" };
  return pick;
}
