/** A thin horizontal bar: `share` of the track (0..1) filled; `marker` draws a tick at a share. */
export function MeterBar({
  share,
  tone = "accent",
  marker,
  markerLabel,
  label,
}: {
  share: number;
  tone?: "accent" | "info" | "ok" | "warn" | "danger";
  marker?: number;
  markerLabel?: string;
  label?: string;
}) {
  const pct = Math.max(0, Math.min(1, Number.isFinite(share) ? share : 0)) * 100;
  return (
    <span className={`ins-meter tone-${tone}`} role="meter" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)} aria-label={label}>
      <span className="ins-meter-fill" style={{ width: `${pct}%` }} />
      {marker !== undefined && Number.isFinite(marker) && (
        <span className="ins-meter-mark" style={{ left: `${Math.max(0, Math.min(1, marker)) * 100}%` }} title={markerLabel} data-testid="alert-mark" />
      )}
    </span>
  );
}
