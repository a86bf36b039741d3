-- Several instances on one database: each registers itself; the one holding the core's advisory
-- lock runs the core and says where (core_url). Heartbeats tell the living from the dead.
CREATE TABLE cluster_instances (
    id TEXT PRIMARY KEY,
    gateway_url TEXT NOT NULL,
    core_url TEXT,
    version TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    active_since BIGINT
);
