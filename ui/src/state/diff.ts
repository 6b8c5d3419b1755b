// A line diff by longest common subsequence: what the prompt registry shows between two
// versions of a template. The common head and tail are cut off first, so the table the
// LCS needs covers only the lines that changed (templates are small; a cap keeps a
// pathological pair from freezing the page).

export type DiffKind = "same" | "add" | "del";

export interface DiffLine {
  kind: DiffKind;
  text: string;
  /** 1-based line number in the old text (same, del). */
  oldLine?: number;
  /** 1-based line number in the new text (same, add). */
  newLine?: number;
}

/** Above this many cells in the LCS table the middle is shown as removed, then added. */
export const MAX_CELLS = 4_000_000;

/** The lines of a text; a final line break does not start an empty line. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The lines of `b` against those of `a`: kept, removed (from a) and added (in b), in order. */
export function diffLines(a: string, b: string): DiffLine[] {
  const x = splitLines(a);
  const y = splitLines(b);
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;

  const out: DiffLine[] = [];
  for (let i = 0; i < head; i++) out.push({ kind: "same", text: x[i]!, oldLine: i + 1, newLine: i + 1 });

  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const n = xs.length;
  const m = ys.length;
  if (n * m > MAX_CELLS) {
    xs.forEach((t, i) => out.push({ kind: "del", text: t, oldLine: head + i + 1 }));
    ys.forEach((t, j) => out.push({ kind: "add", text: t, newLine: head + j + 1 }));
  } else {
    // lcs[i][j]: the LCS length of xs[i..] and ys[j..], in one flat array.
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = xs[i] === ys[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && xs[i] === ys[j]) {
        out.push({ kind: "same", text: xs[i]!, oldLine: head + i + 1, newLine: head + j + 1 });
        i++;
        j++;
      } else if (j < m && (i === n || lcs[i * w + j + 1]! > lcs[(i + 1) * w + j]!)) {
        out.push({ kind: "add", text: ys[j]!, newLine: head + j + 1 });
        j++;
      } else {
        // On a tie the removal comes first: "this line became that one" reads top-down.
        out.push({ kind: "del", text: xs[i]!, oldLine: head + i + 1 });
        i++;
      }
    }
  }

  for (let k = 0; k < tail; k++) {
    const oi = x.length - tail + k;
    const ni = y.length - tail + k;
    out.push({ kind: "same", text: x[oi]!, oldLine: oi + 1, newLine: ni + 1 });
  }
  return out;
}

/** Lines added and removed. */
export function diffStats(lines: DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.kind === "add") added++;
    else if (l.kind === "del") removed++;
  }
  return { added, removed };
}
