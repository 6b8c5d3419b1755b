/** A copy of the set with `x` taken out if it was in, else put in. */
export function toggled<T>(s: ReadonlySet<T>, x: T): Set<T> {
  const n = new Set(s);
  if (n.has(x)) n.delete(x);
  else n.add(x);
  return n;
}
