-- The login each user's sessions must come from: a successful Login replaces the row, so a
-- token of any earlier login (one saved before a restart included) no longer authenticates.
CREATE TABLE agent_logins (
    agent          TEXT PRIMARY KEY,
    token_hash     TEXT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
