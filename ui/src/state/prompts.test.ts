import { describe, expect, it } from "vitest";
import type { PromptVersion } from "../api/admin";
import {
  NO_PROMPT,
  chatPromptMetadata,
  compareVersions,
  keepPick,
  pickVariables,
  versionOptionLabel,
  formFrom,
  formatShare,
  groupPrompts,
  nextVersion,
  promptBody,
  promptMetadata,
  stableOf,
  templateVariables,
  variableChange,
  variablesFor,
} from "./prompts";

function pv(over: Partial<PromptVersion>): PromptVersion {
  return {
    scope: "",
    prompt_id: "support_triage",
    version: "v1",
    template: "Triage.",
    variables: [],
    owner: "support",
    compatible_models: [],
    schema_version: null,
    response_format: "text",
    eval: {},
    changelog: "",
    status: "draft",
    canary_share: 0,
    created_at_ms: 1,
    ...over,
  };
}

describe("groupPrompts", () => {
  it("groups by scope and id, prompts by id, versions newest first", () => {
    const groups = groupPrompts([
      pv({ version: "v1", created_at_ms: 1, status: "stable" }),
      pv({ prompt_id: "assistant", version: "v1" }),
      pv({ version: "v2", created_at_ms: 5 }),
      pv({ version: "v1", scope: "tenant_pro", created_at_ms: 3 }),
    ]);
    expect(groups.map((g) => g.key)).toEqual(["/assistant", "/support_triage", "tenant_pro/support_triage"]);
    expect(groups[1]!.versions.map((v) => v.version)).toEqual(["v2", "v1"]);
    expect(stableOf(groups[1]!)?.version).toBe("v1");
  });
});

describe("variableChange", () => {
  it("names what callers of the stable version do not send and what the version no longer takes", () => {
    const [g] = groupPrompts([
      pv({ version: "v1", status: "stable", variables: ["customer", "plan"], created_at_ms: 1 }),
      pv({ version: "v2", variables: ["customer", "tier"], created_at_ms: 2 }),
      pv({ version: "v3", variables: ["plan", "customer"], created_at_ms: 3 }),
    ]);
    expect(variableChange(g!, "v2")).toEqual({ stable: "v1", missing: ["tier"], unused: ["plan"] });
    expect(variableChange(g!, "v3")).toBeNull();
    expect(variableChange(g!, "v1")).toBeNull();
  });

  it("finds nothing to break when no version is stable", () => {
    const [g] = groupPrompts([pv({ version: "v1", variables: ["a"] })]);
    expect(variableChange(g!, "v1")).toBeNull();
  });
});

describe("versions", () => {
  it("orders names numerically", () => {
    expect(["v10", "v2", "v1"].sort(compareVersions)).toEqual(["v1", "v2", "v10"]);
  });

  it("names the next version", () => {
    expect(nextVersion([])).toBe("v1");
    expect(nextVersion(["v1", "v2"])).toBe("v3");
    expect(nextVersion(["v9", "v10", "draft"])).toBe("v11");
    expect(nextVersion(["2024-05"])).toBe("2024-05-next");
    expect(nextVersion(["a", "a-next"])).toBe("a-next-next");
  });
});

describe("templateVariables", () => {
  it("finds the names a template reads, once, in order", () => {
    expect(templateVariables("Hi {{ name }} from {{product|upper}}.{% if tone %} Be {{ tone }}.{% endif %} {{ name }}")).toEqual([
      "name",
      "product",
      "tone",
    ]);
    expect(templateVariables("{{- lang -}} {% if not strict %}x{% endif %}")).toEqual(["lang", "strict"]);
    expect(templateVariables("no variables")).toEqual([]);
  });
});

describe("promptBody", () => {
  it("starts from a version and builds the API's body", () => {
    const base = pv({
      version: "v1",
      variables: ["product"],
      compatible_models: ["mock-fast/fast-extract-v1"],
      eval: { f1: 0.87 },
      schema_version: "t.v1",
      response_format: "json_object",
      owner: "support-platform",
    });
    const form = { ...formFrom(base, ["v1"]), template: "For {{ product }}.", changelog: " adds product " };
    expect(form.version).toBe("v2");
    const { body, errors } = promptBody(form);
    expect(errors).toEqual({});
    expect(body).toEqual({
      prompt_id: "support_triage",
      version: "v2",
      template: "For {{ product }}.",
      variables: ["product"],
      owner: "support-platform",
      compatible_models: ["mock-fast/fast-extract-v1"],
      schema_version: "t.v1",
      response_format: "json_object",
      eval: { f1: 0.87 },
      changelog: "adds product",
    });
  });

  it("adds the status unless draft, and the workspace of a scoped prompt", () => {
    const form = { ...formFrom(undefined, [], "new_one"), template: "x", owner: "me", status: "stable" as const, workspace: "tenant_pro" };
    expect(promptBody(form).body).toMatchObject({ prompt_id: "new_one", version: "v1", status: "stable", workspace: "tenant_pro", eval: {}, schema_version: null });
  });

  it("says what is missing or malformed", () => {
    const form = { ...formFrom(undefined, []), prompt_id: "bad id", version: "", variables: "ok, 9lives", eval: "[1]" };
    const { body, errors } = promptBody(form);
    expect(body).toBeNull();
    expect(Object.keys(errors).sort()).toEqual(["eval", "owner", "prompt_id", "template", "variables", "version"]);
    expect(errors.variables).toContain("9lives");
    expect(promptBody({ ...form, eval: "{nope" }).errors.eval).toMatch(/^not JSON/);
  });
});

describe("playground", () => {
  it("puts the version and the variables in the request's metadata", () => {
    expect(promptMetadata("support_triage", "v2", { product: "Hearth", tone: "" })).toEqual({
      prompt_id: "support_triage",
      prompt_version: "v2",
      var_product: "Hearth",
      var_tone: "",
    });
  });

  it("keeps only the declared variables of the chosen version", () => {
    expect(variablesFor(pv({ variables: ["a", "b"] }), { a: "1", c: "3" })).toEqual({ a: "1", b: "" });
    expect(variablesFor(undefined, { a: "1" })).toEqual({});
  });

  it("formats a canary share", () => {
    expect(formatShare(0.1)).toBe("10%");
    expect(formatShare(0.125)).toBe("12.5%");
  });
});

describe("the chat prompt picker", () => {
  const groups = groupPrompts([
    pv({ version: "v1", status: "stable", variables: ["tone"], created_at_ms: 1 }),
    pv({ version: "v2", status: "canary", canary_share: 0.1, variables: ["tone", "product"], created_at_ms: 2 }),
    pv({ version: "v3", status: "draft", variables: [], created_at_ms: 3 }),
    pv({ prompt_id: "assistant", version: "v1", status: "stable", variables: [] }),
  ]);
  const triage = "/support_triage";

  it("labels versions with their rollout", () => {
    expect(versionOptionLabel(groups[1]!.versions[1]!)).toBe("v2 · canary 10%");
    expect(versionOptionLabel(groups[1]!.versions[2]!)).toBe("v1 · stable");
  });

  it("sends no metadata without a prompt", () => {
    expect(chatPromptMetadata(groups, NO_PROMPT)).toBeUndefined();
    expect(chatPromptMetadata(groups, { key: "/gone", version: "v1", typed: {} })).toBeUndefined();
  });

  it("routed: the prompt id only, with the variables of stable and canary", () => {
    expect(pickVariables(groups[1], "")).toEqual(["tone", "product"]);
    expect(chatPromptMetadata(groups, { key: triage, version: "", typed: { tone: "calm" } })).toEqual({
      prompt_id: "support_triage",
      var_tone: "calm",
      var_product: "",
    });
    expect(chatPromptMetadata(groups, { key: "/assistant", version: "", typed: {} })).toEqual({ prompt_id: "assistant" });
  });

  it("a chosen version: its id, version and only its variables", () => {
    expect(chatPromptMetadata(groups, { key: triage, version: "v1", typed: { tone: "calm", product: "left over" } })).toEqual({
      prompt_id: "support_triage",
      prompt_version: "v1",
      var_tone: "calm",
    });
    expect(chatPromptMetadata(groups, { key: triage, version: "v3", typed: { tone: "x" } })).toEqual({
      prompt_id: "support_triage",
      prompt_version: "v3",
    });
  });

  it("keeps a pick that still exists, else falls back", () => {
    const pick = { key: triage, version: "v2", typed: {} };
    expect(keepPick(groups, pick)).toBe(pick);
    expect(keepPick(groups, NO_PROMPT)).toBe(NO_PROMPT);
    expect(keepPick(groups, { key: "/gone", version: "v1", typed: {} })).toEqual(NO_PROMPT);
    expect(keepPick(groups, { key: triage, version: "v9", typed: {} })).toEqual({ key: triage, version: "", typed: {} });
  });
});
