// A uPlot chart that follows the page: its colours come from the theme's CSS variables
// (rebuilt when the system switches between light and dark), its width from its box.

import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

/** The theme's colours as the canvas needs them (resolved hex/rgb, not var()). */
export interface ChartTheme {
  text: string;
  muted: string;
  grid: string;
  accent: string;
  info: string;
  ok: string;
  warn: string;
  danger: string;
  panel: string;
  font: string;
  dark: boolean;
}

function cssVar(style: CSSStyleDeclaration, name: string, fallback: string): string {
  return style.getPropertyValue(name).trim() || fallback;
}

export function readChartTheme(): ChartTheme {
  const s = getComputedStyle(document.documentElement);
  const dark = window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
  return {
    text: cssVar(s, "--text", dark ? "#e8e8ec" : "#1c1c1f"),
    muted: cssVar(s, "--muted", "#66666d"),
    grid: cssVar(s, "--border", "#dededa"),
    accent: cssVar(s, "--accent", "#c2410c"),
    info: cssVar(s, "--info", "#1d5fae"),
    ok: cssVar(s, "--ok", "#1f7a3a"),
    warn: cssVar(s, "--warn", "#9a5300"),
    danger: cssVar(s, "--danger", "#b42323"),
    panel: cssVar(s, "--panel", dark ? "#1a1a1d" : "#ffffff"),
    font: cssVar(s, "--font", "system-ui, sans-serif"),
    dark,
  };
}

/** `#rrggbb` (or `#rgb`) with an alpha, as `rgba(...)`; other colours are returned as they are. */
export function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (!m) return color;
  let hex = m[1]!;
  if (hex.length === 3) hex = [...hex].map((c) => c + c).join("");
  const n = Number.parseInt(hex, 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** A number that changes when the system switches between light and dark. */
export function useColorSchemeVersion(): number {
  const [v, setV] = useState(0);
  useEffect(() => {
    const mq = window.matchMedia?.("(prefers-color-scheme: dark)");
    if (!mq) return;
    const on = () => setV((x) => x + 1);
    mq.addEventListener("change", on);
    return () => mq.removeEventListener("change", on);
  }, []);
  return v;
}

export function UPlotChart({
  data,
  options,
  height,
  testId,
  label,
}: {
  data: uPlot.AlignedData;
  /** The options without size; called again when the theme changes. */
  options: (theme: ChartTheme) => Omit<uPlot.Options, "width" | "height">;
  height: number;
  testId?: string;
  /** What the chart shows, for screen readers. */
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const scheme = useColorSchemeVersion();
  const optionsRef = useRef(options);
  optionsRef.current = options;

  // Built anew on theme or data change: the data sets are small and the colours are baked in.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(200, Math.floor(el.clientWidth));
    const u = new uPlot({ ...optionsRef.current(readChartTheme()), width, height }, data, el);
    chart.current = u;
    return () => {
      u.destroy();
      chart.current = null;
    };
  }, [data, height, scheme]);

  useEffect(() => {
    const el = box.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => {
      const u = chart.current;
      const width = Math.max(200, Math.floor(el.clientWidth));
      if (u && Math.abs(u.width - width) > 1) u.setSize({ width, height });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [height]);

  return <div className="ins-chart" ref={box} data-testid={testId} role="img" aria-label={label} />;
}
