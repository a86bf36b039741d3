-- Agent sessions of the NeoApi proxy and the websocket. The token itself is never stored: only
-- its SHA-256 (hex), so a database leak does not hand out sessions. Shared by every instance.
CREATE TABLE agent_sessions (
    token_hash     TEXT PRIMARY KEY,
    agent          TEXT NOT NULL,
    device         TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('agent', 'supervisor')),
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    -- Set by Logout (or a newer login of the same user on the same device).
    revoked_at_ms  BIGINT
);
CREATE INDEX agent_sessions_agent ON agent_sessions (agent, revoked_at_ms);
CREATE INDEX agent_sessions_expiry ON agent_sessions (expires_at_ms);
