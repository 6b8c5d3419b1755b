import type { PromptGroup, PromptPick } from "../state/prompts";
import { NO_PROMPT, canaryOf, pickVariables, stableOf, versionOptionLabel } from "../state/prompts";

/** How a prompt reads in the list: its id, and its workspace when it is not install-wide. */
function groupLabel(g: PromptGroup): string {
  return g.scope ? `${g.prompt_id} (${g.scope})` : g.prompt_id;
}

/** What "Routed" would serve: "v1 stable, v2 canary 10%". */
function routedHint(g: PromptGroup): string {
  const parts = [stableOf(g), canaryOf(g)].filter((v) => v !== undefined).map((v) => versionOptionLabel(v));
  return parts.length > 0 ? `the registry picks: ${parts.join(", ")}` : "no stable or canary version: the request may be refused";
}

/**
 * The composer's prompt: none, or a registry prompt with a version (routed: stable or the
 * canary for its share) and the variables that version declares (sent as `var_<name>`).
 */
export function PromptPicker(props: {
  groups: PromptGroup[];
  pick: PromptPick;
  onPick: (p: PromptPick) => void;
  disabled?: boolean;
}) {
  const { groups, pick, onPick, disabled } = props;
  const group = groups.find((g) => g.key === pick.key);
  const variables = pickVariables(group, pick.version);
  return (
    <div className="picker prompt-picker" data-testid="prompt-picker">
      <label>
        <span>Prompt</span>
        <select
          data-testid="prompt-select"
          value={group ? group.key : ""}
          disabled={disabled}
          onChange={(e) => onPick(e.target.value ? { key: e.target.value, version: "", typed: pick.typed } : NO_PROMPT)}
        >
          <option value="">None</option>
          {groups.map((g) => (
            <option key={g.key} value={g.key}>
              {groupLabel(g)}
            </option>
          ))}
        </select>
      </label>
      {group && (
        <label>
          <span>Version</span>
          <select
            data-testid="prompt-version-select"
            value={pick.version}
            disabled={disabled}
            title={pick.version ? undefined : routedHint(group)}
            onChange={(e) => onPick({ ...pick, version: e.target.value })}
          >
            <option value="">Routed (stable/canary)</option>
            {group.versions.map((v) => (
              <option key={v.version} value={v.version}>
                {versionOptionLabel(v)}
              </option>
            ))}
          </select>
        </label>
      )}
      {variables.map((name) => (
        <label key={name} className="prompt-var">
          <span className="mono">{name}</span>
          <input
            value={pick.typed[name] ?? ""}
            disabled={disabled}
            onChange={(e) => onPick({ ...pick, typed: { ...pick.typed, [name]: e.target.value } })}
            data-testid={`chat-var-${name}`}
            data-var={name}
            placeholder="(empty)"
            aria-label={`Prompt variable ${name}`}
          />
        </label>
      ))}
    </div>
  );
}
