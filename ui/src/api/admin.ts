// The calls of the Prompts, Admin and Audit views (docs/API.md), built on the client's
// `json` and `request`: the prompt registry and its playground, workspaces, API keys,
// providers, local models, and the audit log. Every function takes the client, so the
// credentials and the acting workspace stay the client's business.

import { ApiError, type DataPolicy, type HearthClient, type Locality, type Role } from "./client";
import { readSse, type SseEvent } from "./sse";
import type { Schemas } from "./wire";

function seg(id: string): string {
  return encodeURIComponent(id);
}

function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

// ---------------------------------------------------------------------------------------
// Prompts

export type RolloutStatus = Schemas["RolloutStatus"];
export type ResponseFormat = Schemas["ResponseFormat"];
/** One immutable prompt version as the registry keeps it. */
export type PromptVersion = Schemas["PromptVersion"];
/** The body of `POST /admin/prompts`. */
export type NewPromptVersion = Schemas["NewPrompt"];

/** Every version visible to `workspace` (its own and install-wide ones). */
export async function listPrompts(client: HearthClient, workspace?: string): Promise<PromptVersion[]> {
  const body = await client.json<Schemas["PromptList"]>("GET", `/admin/prompts${query({ workspace })}`);
  return body.prompts;
}

export async function promptVersions(client: HearthClient, id: string, workspace?: string): Promise<PromptVersion[]> {
  const body = await client.json<Schemas["PromptVersions"]>("GET", `/admin/prompts/${seg(id)}${query({ workspace })}`);
  return body.versions;
}

export function createPromptVersion(client: HearthClient, p: NewPromptVersion): Promise<PromptVersion> {
  return client.json<PromptVersion>("POST", "/admin/prompts", p);
}

export function promotePrompt(
  client: HearthClient,
  id: string,
  b: { version: string; status: Exclude<RolloutStatus, "draft">; canary_share?: number; workspace?: string; force?: boolean },
): Promise<PromptVersion> {
  return client.json<PromptVersion>("POST", `/admin/prompts/${seg(id)}/promote`, b);
}

export function rollbackPrompt(client: HearthClient, id: string, b: { version: string; workspace?: string }): Promise<PromptVersion> {
  return client.json<PromptVersion>("POST", `/admin/prompts/${seg(id)}/rollback`, b);
}

export type RenderedPrompt = Schemas["Rendered"];

export function renderPrompt(
  client: HearthClient,
  id: string,
  b: { version: string; workspace: string; variables: Record<string, string> },
): Promise<RenderedPrompt> {
  return client.json<RenderedPrompt>("POST", `/admin/prompts/${seg(id)}/render`, b);
}

// ---------------------------------------------------------------------------------------
// Workspaces

export type WorkspaceSettings = Schemas["Workspace"];
export type WorkspaceView = Schemas["WorkspaceView"];
/** The fields `PATCH /admin/workspaces/{id}` takes (any of them). */
export type WorkspacePatch = Schemas["WorkspacePatch"];

export async function listWorkspaces(client: HearthClient): Promise<WorkspaceView[]> {
  const body = await client.json<Schemas["WorkspaceList"]>("GET", "/admin/workspaces");
  return body.workspaces;
}

export function patchWorkspace(client: HearthClient, id: string, patch: WorkspacePatch): Promise<WorkspaceView> {
  return client.json<WorkspaceView>("PATCH", `/admin/workspaces/${seg(id)}`, patch);
}

export function createWorkspace(
  client: HearthClient,
  w: { id: string; tier: string; data_policy: DataPolicy } & WorkspacePatch,
): Promise<WorkspaceView> {
  return client.json<WorkspaceView>("POST", "/admin/workspaces", w);
}

/** The tier names of the active policy (`GET /admin/policy`). */
export async function policyTiers(client: HearthClient): Promise<string[]> {
  const body = await client.json<{ policy?: { tiers?: Record<string, unknown> } }>("GET", "/admin/policy");
  return Object.keys(body.policy?.tiers ?? {}).sort();
}

// ---------------------------------------------------------------------------------------
// API keys

export type KeyInfo = Schemas["KeyInfo"];
/** A key just made: `key` is the only time the secret is ever sent. */
export type CreatedKey = Schemas["CreatedKey"];

export async function listKeys(client: HearthClient, workspace?: string): Promise<KeyInfo[]> {
  const body = await client.json<Schemas["KeyList"]>("GET", `/admin/keys${query({ workspace })}`);
  return body.keys;
}

export function createKey(client: HearthClient, b: { workspace: string; role: Role; user?: string }): Promise<CreatedKey> {
  return client.json<CreatedKey>("POST", "/admin/keys", b);
}

export async function revokeKey(client: HearthClient, id: string): Promise<void> {
  await client.request("DELETE", `/admin/keys/${seg(id)}`);
}

// ---------------------------------------------------------------------------------------
// Providers

export type ProviderInfo = Omit<Schemas["ProviderView"], "config"> & {
  /** The policy's entry: `kind` and the adapter's settings (no keys). */
  config: ({ kind: string; locality?: Locality; data_policy?: { locality?: Locality } } & Record<string, unknown>) | null;
};

export type ProviderTest = Schemas["ProviderTest"];

export const HOSTED_KINDS = ["openai", "openai_compatible", "anthropic", "gemini"];

/** Whether a provider takes a key (`PUT /admin/providers/{name}/key`): the hosted kinds. */
export function isHosted(p: ProviderInfo): boolean {
  return p.config !== null && HOSTED_KINDS.includes(p.config.kind);
}

/** Where a provider runs, from its config. */
export function providerLocality(p: ProviderInfo): Locality | undefined {
  const c = p.config;
  if (!c) return undefined;
  if (c.kind === "local") return "on_device";
  return c.locality ?? c.data_policy?.locality ?? (isHosted(p) ? "hosted" : undefined);
}

export async function listProviders(client: HearthClient): Promise<ProviderInfo[]> {
  const body = await client.json<{ providers?: ProviderInfo[] }>("GET", "/admin/providers");
  return body.providers ?? [];
}

export function testProvider(client: HearthClient, name: string): Promise<ProviderTest> {
  return client.json<ProviderTest>("POST", `/admin/providers/${seg(name)}/test`);
}

export function setProviderKey(client: HearthClient, name: string, key: string): Promise<Schemas["KeyStored"]> {
  return client.json("PUT", `/admin/providers/${seg(name)}/key`, { key });
}

// ---------------------------------------------------------------------------------------
// Local models

export type LocalModel = Schemas["LocalModel"];

/** The name requests and routes give a listed model: `local/<id>`. */
export function requestModelName(m: Pick<LocalModel, "id"> & Partial<Pick<LocalModel, "model">>): string {
  return m.model ?? m.id;
}

/** `POST /admin/models/use`: makes an installed model the primary of a task's route. */
export function setRoutePrimary(client: HearthClient, model: string, task = "chat"): Promise<Schemas["UsedModel"]> {
  return client.json("POST", "/admin/models/use", { id: model, task });
}

/** How a configured on-device provider runs. */
export type LocalRuntime = Schemas["LocalRuntime"];
/** One model in memory, or loading. */
export type PoolModel = Schemas["LoadedModel"];

/** The models in memory now and the rules that unload them. */
export interface ModelPool {
  /** What the loaded models may take together; null when the server does not say. */
  memory_budget_mb: number | null;
  /** A model idle this long is unloaded; null keeps it until the budget needs the room. */
  idle_unload_s: number | null;
  loaded: PoolModel[];
}

export interface LocalModels {
  models: LocalModel[];
  models_dir: string | null;
  local_providers: LocalRuntime[];
  pool: ModelPool;
}

export const NO_LOCAL_MODELS: LocalModels = {
  models: [],
  models_dir: null,
  local_providers: [],
  pool: { memory_budget_mb: null, idle_unload_s: null, loaded: [] },
};

export async function listLocalModels(client: HearthClient): Promise<LocalModels> {
  const body = await client.json<Partial<Schemas["LocalModels"]>>("GET", "/admin/models");
  return {
    models: body.models ?? [],
    models_dir: body.models_dir ?? null,
    local_providers: body.local_providers ?? [],
    pool: { memory_budget_mb: body.memory_budget_mb ?? null, idle_unload_s: body.idle_unload_s ?? null, loaded: body.loaded ?? [] },
  };
}

/** One line on how a local provider runs, e.g. "local: 2 CPU threads, quantized weights on the AVX2 kernels". */
export function describeRuntime(r: Pick<LocalRuntime, "provider" | "threads" | "quant_kernel">): string {
  const threads = `${r.threads} CPU thread${r.threads === 1 ? "" : "s"}`;
  const kernels: Record<string, string> = {
    "avx512-vnni": "quantized weights on the AVX-512 VNNI and AVX2 kernels",
    avx2: "quantized weights on the AVX2 kernels",
  };
  const kernel = kernels[r.quant_kernel] ?? "quantized weights on candle's generic kernels (no AVX2 on this CPU)";
  return `${r.provider}: ${threads}, ${kernel}`;
}

/** The id `POST`/`DELETE /admin/models` take: the catalog id, without the `local/` of the routes. */
export function bareModelId(m: Pick<LocalModel, "id" | "catalog">): string {
  return m.catalog?.id ?? m.id.replace(/^local\//, "");
}

/**
 * `POST /admin/models {"id"}`: the pull's server-sent events as they arrive (`progress`,
 * then `done` or `error`). A refusal before the stream starts throws an ApiError.
 */
export async function* pullModel(client: HearthClient, id: string, signal?: AbortSignal): AsyncGenerator<SseEvent> {
  const res = await client.request("POST", "/admin/models", { id }, { accept: "text/event-stream", signal });
  if (!res.body) throw new ApiError({ status: res.status, code: "invalid_response", message: "the pull answered no stream" });
  yield* readSse(res.body);
}

/**
 * What `POST /admin/models` takes: a catalog id, or a hub file (what a search lists) with
 * the local name it is installed under (default: from the file name).
 */
export type PullRequest = { id: string } | { hub: { repo: string; file: string; revision?: string }; id?: string };

/** `POST /admin/models` with any pull body; events as `pullModel`'s. */
export async function* pullWith(client: HearthClient, body: PullRequest, signal?: AbortSignal): AsyncGenerator<SseEvent> {
  const res = await client.request("POST", "/admin/models", body, { accept: "text/event-stream", signal });
  if (!res.body) throw new ApiError({ status: res.status, code: "invalid_response", message: "the pull answered no stream" });
  yield* readSse(res.body);
}

/** What an import answers: the name, where the copy went, and the policy lines that use it. */
export type ImportedModel = Schemas["Imported"];

/** `POST /admin/models/import`: copies a GGUF file on the server's disk into the models folder. */
export function importModel(client: HearthClient, b: { path: string; id?: string }): Promise<ImportedModel> {
  return client.json<ImportedModel>("POST", "/admin/models/import", b);
}

export async function removeModel(client: HearthClient, id: string): Promise<void> {
  await client.request("DELETE", `/admin/models/${seg(id)}`);
}

/** One GGUF file a model search found. */
export type SearchHit = Schemas["SearchHit"];
export type ModelSearch = Schemas["SearchAnswer"];

/** `GET /admin/models/search?q=`: the catalog's matches, then the hub's GGUF files. */
export async function searchModels(client: HearthClient, text: string): Promise<ModelSearch> {
  const body = await client.json<Partial<ModelSearch>>("GET", `/admin/models/search?q=${encodeURIComponent(text)}`);
  return {
    online: body.online ?? false,
    reason: body.reason ?? null,
    catalog: body.catalog ?? [],
    files: body.files ?? [],
    skipped: body.skipped ?? [],
    fits_rule: body.fits_rule ?? "",
    budget_bytes: body.budget_bytes ?? 0,
  };
}

// ---------------------------------------------------------------------------------------
// Audit

export type { AuditEvent } from "./insights";
export type AuditPage = Schemas["AuditPage"];

/** `GET /audit?...` with a query string built by state/audit.ts. */
export async function auditPage(client: HearthClient, queryString: string): Promise<AuditPage> {
  const body = await client.json<Partial<AuditPage>>("GET", `/audit${queryString}`);
  return { events: body.events ?? [], next_cursor: body.next_cursor ?? null };
}
