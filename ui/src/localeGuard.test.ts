import { describe, expect, it } from "vitest";
import { usableLanguage } from "./localeGuard";

describe("usableLanguage", () => {
  it("keeps a real language tag", () => {
    expect(usableLanguage("vi-VN")).toBe("vi-VN");
  });
  it("replaces a POSIX locale that Intl refuses, and a missing one", () => {
    expect(usableLanguage("C")).toBe("en-US");
    expect(usableLanguage("")).toBe("en-US");
    expect(usableLanguage(undefined)).toBe("en-US");
  });
});
