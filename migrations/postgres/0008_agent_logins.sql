-- The login each user's sessions must come from: a successful Login replaces the row, so a
-- token of any earlier login (one saved before a restart included) no longer authenticates.
CREATE TABLE agent_logins (
    agent          TEXT PRIMARY KEY,
    token_hash     TEXT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);

-- Sessions live at the upgrade stay valid: each user's newest one is its current login.
INSERT INTO agent_logins (agent, token_hash, updated_at_ms)
SELECT s.agent, s.token_hash, s.created_at_ms
FROM agent_sessions s
WHERE s.revoked_at_ms IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM agent_sessions n
      WHERE n.agent = s.agent
        AND n.revoked_at_ms IS NULL
        AND (n.created_at_ms > s.created_at_ms
             OR (n.created_at_ms = s.created_at_ms AND n.token_hash > s.token_hash))
  );
