import type { ReactNode } from "react";

/**
 * A card of the Routing and Costs views: a heading, a muted note beside it, more of the head
 * (`head`: controls), then the body. With an `id` the heading (`{id}-h`) labels the card;
 * without one the title does.
 */
export function InsCard({
  id,
  title,
  note,
  noteTestId,
  head,
  className,
  children,
}: {
  id?: string;
  title: string;
  note?: ReactNode;
  noteTestId?: string;
  head?: ReactNode;
  className?: string;
  children: ReactNode;
}) {
  return (
    <section className={className ? `ins-card ${className}` : "ins-card"} aria-labelledby={id ? `${id}-h` : undefined} aria-label={id ? undefined : title}>
      <div className="ins-card-head">
        <h2 id={id ? `${id}-h` : undefined}>{title}</h2>
        {note !== undefined && (
          <span className="muted small-text" data-testid={noteTestId}>
            {note}
          </span>
        )}
        {head}
      </div>
      {children}
    </section>
  );
}
