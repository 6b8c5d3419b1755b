import { ApiError } from "../api/client";
import { Icon } from "./Icon";

/** Whether an error means the key is not an admin's (the view then explains, instead of failing). */
export function needsAdmin(e: unknown): boolean {
  return e instanceof ApiError && e.status === 403 && (e.code === "forbidden" || /admin/i.test(e.message));
}

/** "This needs an admin key", with the server's own code and message. */
export function AdminNotice({ error, what }: { error: ApiError; what: string }) {
  return (
    <div className="ins-admin-notice" role="note" data-testid="needs-admin" data-code={error.code}>
      <Icon name="lock" size={18} />
      <div>
        <strong>{what} needs an admin key.</strong>
        <div className="muted">
          This key acts as a user. Sign in with a key of role <code>admin</code> to see it. The server answered{" "}
          <code className="error-code">{error.code}</code> (HTTP {error.status}): {error.message}
        </div>
      </div>
    </div>
  );
}

/** A whole view in place of one that needs an admin key. */
export function AdminOnly({ error, what }: { error: ApiError; what: string }) {
  return (
    <div className="pane admin-only">
      <AdminNotice what={what} error={error} />
    </div>
  );
}
