// Small stroke icons drawn inline (no icon font, no emoji font needed on the machine).

const PATHS = {
  chat: "M4 5h16v10H9l-5 4z",
  compare: "M12 3v18M5 7h5M14 7h5M3 14l2.5-7L8 14a2.5 2.5 0 0 1-5 0zM16 14l2.5-7L21 14a2.5 2.5 0 0 1-5 0z",
  routing: "M4 6h5l6 12h5M4 18h5l2-4M15 6h5M17 3l3 3-3 3M17 15l3 3-3 3",
  costs: "M12 3v18M16.5 7.5c0-1.7-2-3-4.5-3s-4.5 1.3-4.5 3 2 2.6 4.5 3 4.5 1.3 4.5 3-2 3-4.5 3-4.5-1.3-4.5-3",
  prompts: "M6 3h9l4 4v14H6zM14 3v5h5M9 12h7M9 16h7",
  admin: "M12 8.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7zM12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1 7 17M17 7l2.1-2.1",
  audit: "M5 3h14v18H5zM8 7h8M8 11h8M8 15h5",
  trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13M10 11v6M14 11v6",
  pencil: "M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4",
  lock: "M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3",
  keyboard: "M3 6h18v12H3zM7 10h0M11 10h0M15 10h0M7 14h10",
  rerun: "M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7",
  stop: "M7 7h10v10H7z",
  close: "M6 6l12 12M18 6 6 18",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  check: "M5 12.5l4.5 4.5L19 7",
  flame: "M12 3c.8 3.2 5 5.4 5 10.5a5 5 0 0 1-10 0c0-2.6 1.4-4.2 2.6-5.3.1 2 .9 3.3 2.1 3.6-.4-3.3-.6-6 .3-8.8z",
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name, size = 16, title }: { name: IconName; size?: number; title?: string }) {
  return (
    <svg
      className="icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.8}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden={title ? undefined : true}
      role={title ? "img" : undefined}
    >
      {title && <title>{title}</title>}
      <path d={PATHS[name]} />
    </svg>
  );
}
