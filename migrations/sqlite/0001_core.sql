-- Core tables. Instants are BIGINT Unix milliseconds on both backends.

-- State kept across restarts (rotated refresh tokens, seeded demo data, …).
CREATE TABLE settings (
    key           TEXT PRIMARY KEY NOT NULL,
    value         TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
