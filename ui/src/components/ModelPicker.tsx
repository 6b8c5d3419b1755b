import type { ModelInfo } from "../api/client";
import { concreteModels, tasksOf } from "../api/client";
import { Options } from "./Field";

export const ROUTER = "";

/** Label of a model in a list: its id and where it runs. */
export function modelLabel(m: ModelInfo): string {
  if (m.id.startsWith("hearth/")) return `${m.id} (router)`;
  const where = m.locality === "on_device" ? "on device" : m.locality === "hosted" ? "hosted" : "";
  return where ? `${m.id} · ${where}` : m.id;
}

/** Task and model: a concrete PROVIDER/MODEL, or the router's choice for the task. */
export function ModelPicker(props: {
  models: ModelInfo[];
  task: string;
  model: string;
  onTask: (t: string) => void;
  onModel: (m: string) => void;
  disabled?: boolean;
}) {
  const tasks = tasksOf(props.models);
  const concrete = concreteModels(props.models);
  const onDevice = concrete.filter((m) => m.locality === "on_device");
  const hosted = concrete.filter((m) => m.locality === "hosted");
  const unknown = concrete.filter((m) => m.locality !== "on_device" && m.locality !== "hosted");
  const groups: [string, ModelInfo[]][] = [
    ["On device", onDevice],
    ["Hosted", hosted],
    ["Models", unknown],
  ];
  return (
    <div className="picker">
      <label>
        <span>Task</span>
        <select
          data-testid="task-select"
          value={props.task}
          disabled={props.disabled || tasks.length === 0}
          onChange={(e) => props.onTask(e.target.value)}
        >
          {tasks.length === 0 && <option value="">no routes</option>}
          <Options values={tasks} />
        </select>
      </label>
      <label>
        <span>Model</span>
        <select
          data-testid="model-select"
          value={props.model}
          disabled={props.disabled}
          onChange={(e) => props.onModel(e.target.value)}
        >
          <option value={ROUTER} disabled={!props.task}>
            Let the router decide{props.task ? ` (hearth/${props.task})` : ""}
          </option>
          {groups.map(
            ([label, list]) =>
              list.length > 0 && (
                <optgroup key={label} label={label}>
                  <Options values={list.map((m) => m.id)} />
                </optgroup>
              ),
          )}
        </select>
      </label>
    </div>
  );
}

/** The `model` field of a request for a task and a picked model. */
export function requestModel(task: string, picked: string): string {
  return picked === ROUTER ? `hearth/${task}` : picked;
}
