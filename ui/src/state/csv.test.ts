import { describe, expect, it } from "vitest";
import { csvCell, toCsv } from "./csv";

describe("csvCell", () => {
  it("writes plain values as they are", () => {
    expect(csvCell("ok")).toBe("ok");
    expect(csvCell(0.0000088)).toBe("0.0000088");
    expect(csvCell(42)).toBe("42");
    expect(csvCell(true)).toBe("true");
  });

  it("leaves missing and non-finite values empty", () => {
    expect(csvCell(null)).toBe("");
    expect(csvCell(undefined)).toBe("");
    expect(csvCell(Number.NaN)).toBe("");
    expect(csvCell(Infinity)).toBe("");
  });

  it("quotes commas, quotes, line breaks and edge spaces, doubling quotes", () => {
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell("two\nlines")).toBe('"two\nlines"');
    expect(csvCell("cr\rhere")).toBe('"cr\rhere"');
    expect(csvCell(" padded")).toBe('" padded"');
  });

  it("defuses text a spreadsheet would run as a formula, but not numbers", () => {
    expect(csvCell("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-x")).toBe("'-x");
    expect(csvCell("@sum")).toBe("'@sum");
    expect(csvCell("=a,b")).toBe(`"'=a,b"`);
    expect(csvCell(-3)).toBe("-3");
  });
});

describe("toCsv", () => {
  it("writes a header and one CRLF-ended line per row", () => {
    const rows = [
      { id: 1, note: "fine" },
      { id: 2, note: "a, b" },
    ];
    const csv = toCsv(
      [
        { header: "id", value: (r: (typeof rows)[number]) => r.id },
        { header: "note", value: (r: (typeof rows)[number]) => r.note },
      ],
      rows,
    );
    expect(csv).toBe('id,note\r\n1,fine\r\n2,"a, b"\r\n');
  });

  it("is only the header without rows", () => {
    expect(toCsv([{ header: "x", value: () => 1 }], [])).toBe("x\r\n");
  });
});
