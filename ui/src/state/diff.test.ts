import { describe, expect, it } from "vitest";
import { MAX_CELLS, diffLines, diffStats, splitLines, type DiffLine } from "./diff";

/** The diff in the unified style: " same", "-removed", "+added". */
const show = (d: DiffLine[]) => d.map((l) => `${l.kind === "same" ? " " : l.kind === "add" ? "+" : "-"}${l.text}`);

/** The old text, rebuilt from a diff, and the new one: proves nothing is lost or invented. */
function sides(d: DiffLine[]): [string[], string[]] {
  return [d.filter((l) => l.kind !== "add").map((l) => l.text), d.filter((l) => l.kind !== "del").map((l) => l.text)];
}

describe("splitLines", () => {
  it("splits on every line ending and ignores a final one", () => {
    expect(splitLines("a\nb\r\nc\rd\n")).toEqual(["a", "b", "c", "d"]);
    expect(splitLines("")).toEqual([]);
    expect(splitLines("\n")).toEqual([""]);
    expect(splitLines("a\n\n")).toEqual(["a", ""]);
  });
});

describe("diffLines", () => {
  it("is all same for equal texts", () => {
    const d = diffLines("a\nb", "a\nb");
    expect(show(d)).toEqual([" a", " b"]);
    expect(diffStats(d)).toEqual({ added: 0, removed: 0 });
  });

  it("shows a changed line as removed, then added, between kept lines", () => {
    const d = diffLines("one\ntwo\nthree", "one\nTWO\nthree");
    expect(show(d)).toEqual([" one", "-two", "+TWO", " three"]);
    expect(d[1]).toMatchObject({ oldLine: 2 });
    expect(d[2]).toMatchObject({ newLine: 2 });
    expect(d[3]).toMatchObject({ oldLine: 3, newLine: 3 });
  });

  it("handles insertions and deletions at either end", () => {
    expect(show(diffLines("b\nc", "a\nb\nc\nd"))).toEqual(["+a", " b", " c", "+d"]);
    expect(show(diffLines("a\nb\nc", "b"))).toEqual(["-a", " b", "-c"]);
    expect(show(diffLines("", "x\ny"))).toEqual(["+x", "+y"]);
    expect(show(diffLines("x\ny", ""))).toEqual(["-x", "-y"]);
  });

  it("keeps the longest common subsequence", () => {
    // a b c a b b a  ->  c b a b a c : the LCS has length 4.
    const d = diffLines("a\nb\nc\na\nb\nb\na", "c\nb\na\nb\na\nc");
    expect(d.filter((l) => l.kind === "same")).toHaveLength(4);
    expect(sides(d)).toEqual([
      ["a", "b", "c", "a", "b", "b", "a"],
      ["c", "b", "a", "b", "a", "c"],
    ]);
  });

  it("numbers lines on both sides", () => {
    const d = diffLines("a\nb\nc", "a\nx\nc\nd");
    expect(d).toEqual([
      { kind: "same", text: "a", oldLine: 1, newLine: 1 },
      { kind: "del", text: "b", oldLine: 2 },
      { kind: "add", text: "x", newLine: 2 },
      { kind: "same", text: "c", oldLine: 3, newLine: 3 },
      { kind: "add", text: "d", newLine: 4 },
    ]);
  });

  it("treats CRLF and LF alike", () => {
    expect(show(diffLines("a\r\nb\r\n", "a\nb"))).toEqual([" a", " b"]);
  });

  it("rebuilds both texts for random edits", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 50; round++) {
      const a = Array.from({ length: Math.floor(rnd() * 12) }, () => "abcd"[Math.floor(rnd() * 4)]!);
      const b = Array.from({ length: Math.floor(rnd() * 12) }, () => "abcd"[Math.floor(rnd() * 4)]!);
      const d = diffLines(a.join("\n"), b.join("\n"));
      expect(sides(d)).toEqual([a, b]);
    }
  });

  it("falls back to removed-then-added beyond the size cap, still complete", () => {
    const n = Math.ceil(Math.sqrt(MAX_CELLS)) + 1;
    const a = Array.from({ length: n }, (_, i) => `a${i}`).join("\n");
    const b = Array.from({ length: n }, (_, i) => `b${i}`).join("\n");
    const d = diffLines(`head\n${a}\ntail`, `head\n${b}\ntail`);
    expect(d[0]).toMatchObject({ kind: "same", text: "head" });
    expect(d[1]).toMatchObject({ kind: "del", text: "a0" });
    expect(d[n + 1]).toMatchObject({ kind: "add", text: "b0" });
    expect(d.at(-1)).toMatchObject({ kind: "same", text: "tail", oldLine: n + 2, newLine: n + 2 });
    expect(diffStats(d)).toEqual({ added: n, removed: n });
  });
});
