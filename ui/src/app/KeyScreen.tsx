import { useState } from "react";
import type { ApiError } from "../api/client";
import { ErrorNotice } from "../components/ErrorNotice";
import { Icon } from "../components/Icon";
import { useBusy } from "../components/useAsync";

/** Asks for an API key when the server wants one; the client remembers it in this browser. */
export function KeyScreen({ onLogin }: { onLogin: (key: string) => Promise<void> }) {
  const [key, setKey] = useState("");
  const [busy, run] = useBusy();
  const [error, setError] = useState<ApiError | null>(null);
  const submit = () => run(() => onLogin(key), setError);
  return (
    <div className="center-screen">
      <form
        className="card key-card"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
        data-testid="key-screen"
      >
        <h1>
          <span className="brand-mark" aria-hidden>
            <Icon name="flame" size={22} />
          </span>{" "}
          Hearth
        </h1>
        <p>This gateway needs an API key. It is kept in this browser only, and tells Hearth your workspace and role.</p>
        <label className="stack">
          <span>API key</span>
          <input
            type="password"
            autoComplete="off"
            autoFocus
            value={key}
            onChange={(e) => setKey(e.target.value)}
            placeholder="hk_…"
            data-testid="key-input"
          />
        </label>
        {error && <ErrorNotice error={error} />}
        <button className="primary" type="submit" disabled={busy || !key.trim()} data-testid="key-submit">
          {busy ? "Checking…" : "Continue"}
        </button>
        <p className="muted small-text">
          An admin creates one with <code>hearth keys create --workspace NAME</code>.
        </p>
      </form>
    </div>
  );
}
