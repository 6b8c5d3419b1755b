// How numbers read in the UI: cost, latency, tokens, tokens per second. A missing value is
// an em dash, never "NaN" or "$0" pretending to be a measurement.

export const NONE = "—";

function finite(n: number | null | undefined): n is number {
  return typeof n === "number" && Number.isFinite(n);
}

/**
 * US dollars. At least two decimals; below one dollar three significant digits without an
 * exponent, so $0.0000275 reads as such rather than as $0.00 or 2.75e-5.
 */
export function formatCost(usd: number | null | undefined): string {
  if (!finite(usd)) return NONE;
  if (usd < 0) return `-${formatCost(-usd)}`;
  if (usd === 0) return "$0";
  if (usd >= 1) {
    return `$${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  if (usd < 1e-10) return "<$0.0000000001";
  const decimals = Math.min(12, Math.max(2, 2 - Math.floor(Math.log10(usd))));
  let s = usd.toFixed(decimals);
  // Rounding may carry to a whole dollar (0.9996 -> "1.000").
  if (Number(s) >= 1) return formatCost(Number(s));
  // Trailing zeros go, but two decimals stay ($0.50, not $0.5).
  const dot = s.indexOf(".");
  while (s.endsWith("0") && s.length - dot - 1 > 2) s = s.slice(0, -1);
  return `$${s}`;
}

/** A duration: "0.4 ms", "412 ms", "1.23 s", "12.3 s", "2 min 5 s", "8 h 10 min". */
export function formatLatency(ms: number | null | undefined): string {
  if (!finite(ms) || ms < 0) return NONE;
  if (ms < 1) return `${ms.toFixed(1)} ms`;
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 9.995) return `${s.toFixed(2)} s`;
  if (s < 59.95) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  if (whole >= 3600) {
    const h = Math.floor(whole / 3600);
    const m = Math.round((whole % 3600) / 60);
    if (m === 60) return `${h + 1} h`;
    return m === 0 ? `${h} h` : `${h} h ${m} min`;
  }
  const min = Math.floor(whole / 60);
  const sec = whole % 60;
  return sec === 0 ? `${min} min` : `${min} min ${sec} s`;
}

/** A token count with thousands separators: "1,234". */
export function formatTokens(n: number | null | undefined): string {
  if (!finite(n)) return NONE;
  return Math.round(n).toLocaleString("en-US");
}

/** Input and output tokens together: "30 in · 24 out". */
export function formatTokenPair(input: number | null | undefined, output: number | null | undefined): string {
  if (!finite(input) && !finite(output)) return NONE;
  return `${formatTokens(input)} in · ${formatTokens(output)} out`;
}

/** Generation speed: "4.2 tok/s" below ten, "123 tok/s" above. */
export function formatTokensPerSecond(tps: number | null | undefined): string {
  if (!finite(tps) || tps < 0) return NONE;
  if (tps < 9.95) return `${tps.toFixed(1)} tok/s`;
  return `${Math.round(tps).toLocaleString("en-US")} tok/s`;
}

/** A timestamp (ms since the epoch) as local date and time, short. */
export function formatWhen(ms: number | null | undefined, now: number = Date.now()): string {
  if (!finite(ms)) return NONE;
  const d = new Date(ms);
  const sameDay = new Date(now).toDateString() === d.toDateString();
  const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  if (sameDay) return time;
  return `${d.toLocaleDateString("en-GB", { day: "numeric", month: "short" })} ${time}`;
}
