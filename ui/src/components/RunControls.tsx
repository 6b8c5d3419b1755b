import { Icon } from "./Icon";

/** A model to run against, as a chip with a checkbox; a full selection refuses more. */
export function ModelChip({
  id,
  selected,
  max,
  disabled,
  onToggle,
  notes,
}: {
  id: string;
  selected: readonly string[];
  max: number;
  disabled: boolean;
  onToggle: () => void;
  /** Short notes after the id ("on device", "router"); false and undefined are left out. */
  notes: (string | false | undefined)[];
}) {
  const on = selected.includes(id);
  const full = !on && selected.length >= max;
  return (
    <label className={`chip ${on ? "on" : ""} ${full ? "full" : ""}`} title={full ? `At most ${max}` : id}>
      <input type="checkbox" checked={on} disabled={disabled || full} onChange={onToggle} data-model={id} />
      {id}
      {notes
        .filter((n): n is string => typeof n === "string" && n !== "")
        .map((n) => (
          <span key={n} className="chip-note">
            {n}
          </span>
        ))}
    </label>
  );
}

/** The button that stops what is streaming (Esc does the same). */
export function StopButton({ onStop, testId, title }: { onStop: () => void; testId: string; title: string }) {
  return (
    <button className="danger" onClick={onStop} data-testid={testId} title={title}>
      <Icon name="stop" size={14} /> Stop
    </button>
  );
}

/** The temperature of the next request, 0 to 2, as typed. */
export function TemperatureField({
  value,
  onChange,
  disabled,
  testId,
}: {
  value: string;
  onChange: (v: string) => void;
  disabled: boolean;
  testId?: string;
}) {
  return (
    <label className="temp">
      <span>Temperature</span>
      <input type="number" min={0} max={2} step={0.1} value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId} disabled={disabled} />
    </label>
  );
}
