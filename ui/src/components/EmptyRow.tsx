import type { ReactNode } from "react";

/** The one row of a table with nothing to list, across all its columns. */
export function EmptyRow({ cols, children, className = "muted" }: { cols: number; children: ReactNode; className?: string }) {
  return (
    <tr>
      <td colSpan={cols} className={className}>
        {children}
      </td>
    </tr>
  );
}
