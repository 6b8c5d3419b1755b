/** A row of tabs; each button's test id is `testIdPrefix` and the tab's id. */
export function Tabs<T extends string>({
  tabs,
  active,
  onSelect,
  testIdPrefix,
}: {
  tabs: readonly { id: T; label: string }[];
  active: T;
  onSelect: (id: T) => void;
  testIdPrefix: string;
}) {
  return (
    <div className="tabs" role="tablist">
      {tabs.map((t) => (
        <button
          key={t.id}
          role="tab"
          aria-selected={active === t.id}
          className={`tab ${active === t.id ? "active" : ""}`}
          onClick={() => onSelect(t.id)}
          data-testid={`${testIdPrefix}${t.id}`}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}
