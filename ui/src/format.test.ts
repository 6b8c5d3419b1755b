import { describe, expect, it } from "vitest";
import { NONE, formatCost, formatLatency, formatTokenPair, formatTokens, formatTokensPerSecond } from "./format";

describe("formatCost", () => {
  it.each([
    [0.0000275, "$0.0000275"],
    [0.0000212, "$0.0000212"],
    [0.00002125, "$0.0000213"],
    [0.0001, "$0.0001"],
    [0.000000123, "$0.000000123"],
    [0.0123, "$0.0123"],
    [0.5, "$0.50"],
    [0.05, "$0.05"],
    [0.123456, "$0.123"],
    [0.99999, "$1.00"],
    [1, "$1.00"],
    [12.345, "$12.35"],
    [1234.5, "$1,234.50"],
    [0, "$0"],
    [1e-12, "<$0.0000000001"],
  ])("%s -> %s", (usd, text) => {
    expect(formatCost(usd)).toBe(text);
  });

  it("never shows an exponent", () => {
    for (let e = -10; e <= 3; e++) {
      for (const m of [1, 2.5, 9.99]) expect(formatCost(m * 10 ** e)).not.toMatch(/e/i);
    }
  });

  it("shows a dash for a missing value", () => {
    expect(formatCost(null)).toBe(NONE);
    expect(formatCost(undefined)).toBe(NONE);
    expect(formatCost(Number.NaN)).toBe(NONE);
  });
});

describe("formatLatency", () => {
  it.each([
    [0.42, "0.4 ms"],
    [1, "1 ms"],
    [21.4, "21 ms"],
    [412.6, "413 ms"],
    [999.4, "999 ms"],
    [999.6, "1.00 s"],
    [1234, "1.23 s"],
    [12_345, "12.3 s"],
    [59_940, "59.9 s"],
    [60_000, "1 min"],
    [125_000, "2 min 5 s"],
    [3_600_000, "1 h"],
    [29_444_000, "8 h 11 min"],
    [7_199_000, "2 h"],
  ])("%s ms -> %s", (ms, text) => {
    expect(formatLatency(ms)).toBe(text);
  });
  it("shows a dash for missing or negative", () => {
    expect(formatLatency(null)).toBe(NONE);
    expect(formatLatency(-1)).toBe(NONE);
  });
});

describe("tokens", () => {
  it("counts with separators", () => {
    expect(formatTokens(0)).toBe("0");
    expect(formatTokens(24)).toBe("24");
    expect(formatTokens(1234567)).toBe("1,234,567");
    expect(formatTokens(null)).toBe(NONE);
  });
  it("pairs input and output", () => {
    expect(formatTokenPair(30, 24)).toBe("30 in · 24 out");
    expect(formatTokenPair(30, null)).toBe(`30 in · ${NONE} out`);
    expect(formatTokenPair(null, undefined)).toBe(NONE);
  });
  it("reads speed", () => {
    expect(formatTokensPerSecond(4.24)).toBe("4.2 tok/s");
    expect(formatTokensPerSecond(9.96)).toBe("10 tok/s");
    expect(formatTokensPerSecond(203.4)).toBe("203 tok/s");
    expect(formatTokensPerSecond(12345)).toBe("12,345 tok/s");
    expect(formatTokensPerSecond(null)).toBe(NONE);
    expect(formatTokensPerSecond(Infinity)).toBe(NONE);
  });
});
