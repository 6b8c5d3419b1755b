import { describe, expect, it } from "vitest";
import type { Policy } from "../api/insights";
import { floatText, policyToToml, tomlKey, tomlString, tomlValue } from "./policyToml";

describe("TOML values", () => {
  it("quotes keys that are not bare and escapes strings", () => {
    expect(tomlKey("mock-fast")).toBe("mock-fast");
    expect(tomlKey("my.provider")).toBe('"my.provider"');
    expect(tomlString('a "b"\\\n')).toBe('"a \\"b\\"\\\\\\n"');
  });
  it("keeps floats floats, without exponents", () => {
    expect(floatText(1)).toBe("1.0");
    expect(floatText(0.0002)).toBe("0.0002");
    expect(floatText(2e-7)).toBe("0.0000002");
    expect(floatText(500)).toBe("500.0");
  });
  it("writes arrays and inline tables, leaving out nulls", () => {
    expect(tomlValue(["a", "b"])).toBe('["a", "b"]');
    expect(tomlValue({ locality: "hosted", region: null, pii_allowed: false })).toBe('{ locality = "hosted", pii_allowed = false }');
    expect(tomlValue(40)).toBe("40");
  });
});

describe("policyToToml", () => {
  const policy: Policy = {
    providers: {
      "mock-fast": { kind: "mock", latency_ms: 40, locality: "hosted" },
      ollama: { kind: "openai_compatible", base_url: "http://127.0.0.1:11434/v1", api_key_env: null, models: ["llama3.2"], headers: {}, data_policy: { locality: "on_device", region: null, retention_days: null, pii_allowed: false } },
    },
    models: {
      fast_extractor: {
        alias: "fast_extractor",
        provider: "mock-fast",
        model_id: "fast-extract-v1",
        address: "mock-fast/fast-extract-v1",
        max_output_tokens: 512,
        prices: { input_usd_per_1m: 0.2, output_usd_per_1m: 1, cached_input_usd_per_1m: null },
      },
    },
    routes: { extract: { task: "extract", primary: "fast_extractor", fallbacks: [], max_output_tokens: null } },
    tiers: {
      free: {
        name: "free",
        allowed_models: ["fast_extractor"],
        allowed_providers: ["ollama", "*"],
        default_model: "fast_extractor",
        daily_budget_usd: 1,
        max_output_tokens: 256,
        rpm: null,
        on_budget_exhausted: "downgrade",
        downgrade_model: "fast_extractor",
        on_route_not_allowed: "degrade",
      },
    },
  };
  const toml = policyToToml(policy);
  it("writes each section as docs/CONFIG.md does", () => {
    expect(toml).toContain('[providers.mock-fast]\nkind = "mock"\nlatency_ms = 40\nlocality = "hosted"\n');
    expect(toml).toContain(
      '[providers.ollama]\nkind = "openai_compatible"\nbase_url = "http://127.0.0.1:11434/v1"\nmodels = ["llama3.2"]\ndata_policy = { locality = "on_device", pii_allowed = false }\n',
    );
    expect(toml).toContain(
      '[models.fast_extractor]\nprovider = "mock-fast"\nmodel_id = "fast-extract-v1"\nmax_output_tokens = 512\ninput_usd_per_1m = 0.2\noutput_usd_per_1m = 1.0\n',
    );
    expect(toml).toContain('[routes.extract]\nprimary = "fast_extractor"\nfallbacks = []\n');
    expect(toml).toContain(
      '[tiers.free]\nallowed_models = ["*", "ollama/*", "fast_extractor"]\ndefault_model = "fast_extractor"\ndaily_budget_usd = 1.0\nmax_output_tokens = 256\non_budget_exhausted = "downgrade"\ndowngrade_model = "fast_extractor"\non_route_not_allowed = "degrade"\n',
    );
  });
  it("orders providers, models, routes, tiers and ends with a newline", () => {
    const order = ["[providers.", "[models.", "[routes.", "[tiers."].map((h) => toml.indexOf(h));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(toml.endsWith("\n")).toBe(true);
    expect(toml).not.toContain("null");
  });
});
