import { describe, expect, it } from "vitest";
import { toggled } from "./sets";

describe("toggled", () => {
  it("adds what is missing and removes what is there, leaving the set it was given alone", () => {
    const s = new Set([1, 2]);
    expect([...toggled(s, 3)]).toEqual([1, 2, 3]);
    expect([...toggled(s, 1)]).toEqual([2]);
    expect([...s]).toEqual([1, 2]);
  });
});
