CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS workspaces (
    id                 TEXT PRIMARY KEY,
    tier               TEXT NOT NULL,
    data_policy        TEXT NOT NULL,
    daily_budget_usd   REAL,
    daily_token_limit  INTEGER,
    rpm                INTEGER,
    user_rpm           INTEGER,
    max_concurrency    INTEGER NOT NULL,
    cache_enabled      INTEGER NOT NULL,
    budget_alert_share REAL NOT NULL,
    created_at_ms      INTEGER NOT NULL,
    pii_patterns       TEXT NOT NULL DEFAULT '[]',
    allowed_tools      TEXT NOT NULL DEFAULT '["*"]'
);

CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT PRIMARY KEY,
    key_hash      TEXT NOT NULL UNIQUE,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    user_id       TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);

-- A prompt version's content never changes once written; only its rollout status and
-- canary share move. scope '' is install-wide, else the owning workspace.
CREATE TABLE IF NOT EXISTS prompts (
    scope             TEXT NOT NULL,
    prompt_id         TEXT NOT NULL,
    version           TEXT NOT NULL,
    template          TEXT NOT NULL,
    variables         TEXT NOT NULL,
    owner             TEXT NOT NULL,
    compatible_models TEXT NOT NULL,
    schema_version    TEXT,
    response_format   TEXT NOT NULL,
    eval              TEXT NOT NULL,
    changelog         TEXT NOT NULL,
    status            TEXT NOT NULL,
    canary_share      REAL NOT NULL DEFAULT 0,
    created_at_ms     INTEGER NOT NULL,
    PRIMARY KEY (scope, prompt_id, version)
);

CREATE TRIGGER IF NOT EXISTS prompts_versions_are_immutable
BEFORE UPDATE OF scope, prompt_id, version, template, variables, owner, compatible_models,
                 schema_version, response_format, eval, changelog, created_at_ms ON prompts
BEGIN
    SELECT RAISE(ABORT, 'prompt versions are immutable');
END;

CREATE TRIGGER IF NOT EXISTS prompts_versions_are_never_deleted
BEFORE DELETE ON prompts
BEGIN
    SELECT RAISE(ABORT, 'prompt versions are never deleted; deprecate them');
END;

CREATE TABLE IF NOT EXISTS prompt_rollout_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    scope     TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    version   TEXT NOT NULL,
    action    TEXT NOT NULL,
    at_ms     INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS usage_daily (
    workspace_id  TEXT NOT NULL,
    day           TEXT NOT NULL,
    model         TEXT NOT NULL,
    requests      INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd      REAL NOT NULL,
    cache_hits    INTEGER NOT NULL,
    saved_usd     REAL NOT NULL,
    PRIMARY KEY (workspace_id, day, model)
);

CREATE TABLE IF NOT EXISTS budget_alerts (
    workspace_id TEXT NOT NULL,
    day          TEXT NOT NULL,
    share        REAL NOT NULL,
    spent_usd    REAL NOT NULL,
    budget_usd   REAL NOT NULL,
    at_ms        INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, day, share)
);

CREATE TABLE IF NOT EXISTS cache_entries (
    key_hash      TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    response      TEXT NOT NULL,
    cost_usd      REAL NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_entries_by_workspace ON cache_entries(workspace_id);

CREATE TABLE IF NOT EXISTS audit_events (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms              INTEGER NOT NULL,
    event_type         TEXT NOT NULL,
    trace_id           TEXT NOT NULL,
    tenant_id          TEXT NOT NULL,
    user_id_hash       TEXT NOT NULL,
    endpoint           TEXT NOT NULL,
    task               TEXT,
    prompt_id          TEXT,
    prompt_version     TEXT,
    schema_version     TEXT,
    provider           TEXT,
    model              TEXT,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    estimated_cost_usd REAL NOT NULL,
    latency_ms         REAL NOT NULL,
    cache_hit          INTEGER NOT NULL,
    retry_count        INTEGER NOT NULL,
    fallback_used      INTEGER NOT NULL,
    tool_names         TEXT NOT NULL,
    policy_decision    TEXT NOT NULL,
    error_code         TEXT,
    status             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_by_tenant ON audit_events(tenant_id, id);

-- Retention purges are the only deletes, and each one is logged here first.
CREATE TABLE IF NOT EXISTS audit_retention_runs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    before_ms INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    deleted   INTEGER,
    active    INTEGER NOT NULL
);

CREATE TRIGGER IF NOT EXISTS audit_events_refuse_update
BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER IF NOT EXISTS audit_events_refuse_delete
BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_retention_runs WHERE active = 1 AND OLD.ts_ms < before_ms)
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only; use a retention purge');
END;

-- Hosted providers added with `hearth providers add`; merged into the policy at open.
-- Never a key: those live in the environment or the OS keychain.
CREATE TABLE IF NOT EXISTS providers (
    name          TEXT PRIMARY KEY,
    spec          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- The UI's chat threads, per workspace and user. Message text lives here by design (it is
-- the user's chat history); it never reaches the audit log.
CREATE TABLE IF NOT EXISTS threads (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    title         TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS threads_by_owner ON threads (workspace_id, user_id, updated_at_ms);

CREATE TABLE IF NOT EXISTS thread_messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id     TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    role          TEXT NOT NULL,
    content       TEXT NOT NULL,
    meta          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS thread_messages_by_thread ON thread_messages (thread_id, id);

-- Saved side-by-side comparisons (the prompt, the models and each column's result).
CREATE TABLE IF NOT EXISTS comparisons (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS comparisons_by_owner ON comparisons (workspace_id, user_id, created_at_ms);

-- Whole answers kept for `Idempotency-Key` retries, per workspace and key, for a day. The
-- request is kept only as a hash, to tell a retry from a different request under a reused key.
CREATE TABLE IF NOT EXISTS idempotent_answers (
    workspace_id  TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    headers       TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
