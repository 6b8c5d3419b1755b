import type { ReactNode } from "react";

/**
 * An inline confirmation for an action that cannot be undone by a click: says what will
 * happen, with the action and a way out. Esc cancels.
 */
export function Confirm({
  children,
  action,
  onConfirm,
  onCancel,
  busy = false,
  danger = false,
  blocked = false,
}: {
  children: ReactNode;
  action: string;
  onConfirm: () => void;
  onCancel: () => void;
  busy?: boolean;
  danger?: boolean;
  /** The action waits for something the children ask of the user (an acknowledgement). */
  blocked?: boolean;
}) {
  return (
    <div
      className="confirm"
      role="alertdialog"
      aria-label={action}
      data-testid="confirm"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          onCancel();
        }
      }}
    >
      <div className="confirm-text">{children}</div>
      <div className="confirm-actions">
        <button className={danger ? "danger small" : "primary small"} onClick={onConfirm} disabled={busy || blocked} autoFocus data-testid="confirm-yes">
          {busy ? "Working…" : action}
        </button>
        <button className="small" onClick={onCancel} disabled={busy} data-testid="confirm-no">
          Cancel
        </button>
      </div>
    </div>
  );
}

/** The Delete and Keep buttons that stand in for a side-list item's actions until one is clicked. */
export function DeleteOrKeep({ onDelete, onKeep, testId }: { onDelete: () => void; onKeep: () => void; testId?: string }) {
  return (
    <span className="side-item-actions visible">
      <button className="danger small" onClick={onDelete} data-testid={testId}>
        Delete
      </button>
      <button className="small" onClick={onKeep}>
        Keep
      </button>
    </span>
  );
}
