/** One line of a {@link diffLines} result. */
export interface DiffLine {
  /** `=` unchanged, `-` only in the old text, `+` only in the new text. */
  readonly op: "=" | "-" | "+";
  readonly text: string;
}

/** Above this many lines on each side the diff degrades to "all old out, all new in". */
const MAX_LINES = 4000;

/**
 * A line diff (longest common subsequence) of two texts, for the studio's draft-vs-live
 * view. Policies are short; the quadratic table is capped so a huge paste stays cheap.
 *
 * @example
 * diffLines("a\nb\n", "a\nc\n") // [{op:"=",text:"a"},{op:"-",text:"b"},{op:"+",text:"c"}]
 */
export function diffLines(before: string, after: string): DiffLine[] {
  const a = before.replace(/\n$/, "").split("\n");
  const b = after.replace(/\n$/, "").split("\n");
  if (before === "") a.length = 0;
  if (after === "") b.length = 0;
  // Strip the common head and tail first: most edits touch a few lines in the middle.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const out: DiffLine[] = a.slice(0, head).map((text) => ({ op: "=", text }));
  if (x.length > MAX_LINES || y.length > MAX_LINES) {
    out.push(...x.map((text) => ({ op: "-" as const, text })));
    out.push(...y.map((text) => ({ op: "+" as const, text })));
  } else {
    // lcs[i][j] = length of the LCS of x[i..] and y[j..].
    const w = y.length + 1;
    const lcs = new Uint32Array((x.length + 1) * w);
    for (let i = x.length - 1; i >= 0; i--) {
      for (let j = y.length - 1; j >= 0; j--) {
        lcs[i * w + j] =
          x[i] === y[j]
            ? (lcs[(i + 1) * w + j + 1] as number) + 1
            : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    while (i < x.length && j < y.length) {
      if (x[i] === y[j]) {
        out.push({ op: "=", text: x[i] as string });
        i++;
        j++;
      } else if ((lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number)) {
        out.push({ op: "-", text: x[i++] as string });
      } else out.push({ op: "+", text: y[j++] as string });
    }
    while (i < x.length) out.push({ op: "-", text: x[i++] as string });
    while (j < y.length) out.push({ op: "+", text: y[j++] as string });
  }
  out.push(...a.slice(a.length - tail).map((text) => ({ op: "=" as const, text })));
  return out;
}
