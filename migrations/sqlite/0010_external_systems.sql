-- External systems (a CRM that drives calls through /api/v1) and their identifiers.

-- A system and the argon2 hash of its API token (the token is shown once, at creation).
CREATE TABLE external_systems (
    name          TEXT PRIMARY KEY NOT NULL,
    token_hash    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- An agent's id in a system: unique per system, one per agent and system.
CREATE TABLE external_agents (
    system      TEXT NOT NULL,
    agent       TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (system, agent),
    UNIQUE (system, external_id)
);

-- A campaign's system and its id there (one system and id per campaign).
CREATE TABLE external_campaigns (
    campaign    BIGINT PRIMARY KEY NOT NULL,
    system      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    UNIQUE (system, external_id)
);

-- API requests by their request id: a repeated request gets the first one's answer.
-- status NULL: the first one is still being carried out.
CREATE TABLE external_requests (
    system        TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    status        BIGINT,
    body          TEXT,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (system, request_id)
);
