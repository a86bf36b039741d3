-- The contact-center core's durable state: what a restarted process takes back.
-- Counters and facts about the stored state: `state_version` (the shape of the rows below; a
-- newer one is refused at start-up), `next_id` (the next unreserved call / callback id),
-- `alive_ms` (the last moment the process was known alive: calls it left open end there).
CREATE TABLE core_meta (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO core_meta (name, value) VALUES ('next_id', 1);

-- One row per agent of the roster that ever logged in: its event sequence number and its
-- session (JSON; NULL when logged out).
CREATE TABLE core_agents (
    agent         TEXT PRIMARY KEY,
    seq           BIGINT NOT NULL,
    session       TEXT,
    updated_at_ms BIGINT NOT NULL
);

-- Scheduled callbacks (JSON: the callback and the lead it becomes), until they come due.
CREATE TABLE core_callbacks (
    id        BIGINT PRIMARY KEY,
    body      TEXT NOT NULL,
    due_at_ms BIGINT NOT NULL
);

-- The leads an outbound campaign has still to dial (JSON array, in dialing order).
CREATE TABLE core_leads (
    campaign BIGINT PRIMARY KEY,
    leads    TEXT NOT NULL
);
