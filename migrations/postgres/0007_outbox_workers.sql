-- Outbox workers beat here every second: rows claimed by a worker that stopped beating (its
-- process died) are taken by another at once instead of waiting out the claim's lease.
CREATE TABLE outbox_workers (
    worker   TEXT PRIMARY KEY,
    alive_ms BIGINT NOT NULL
);
