import type { ReactNode } from "react";
import { Icon } from "./Icon";

/** A short message with a button that dismisses it. */
export function Notice({
  children,
  onDismiss,
  testId,
  className = "notice",
}: {
  children: ReactNode;
  onDismiss: () => void;
  testId: string;
  className?: string;
}) {
  return (
    <div className={className} data-testid={testId}>
      {children}
      <button className="icon-button" onClick={onDismiss} aria-label="Dismiss">
        <Icon name="close" size={14} />
      </button>
    </div>
  );
}
