-- The Salesforce outbox: every write to Salesforce is a row, inserted in the same transaction
-- as the state change that causes it, delivered at least once by the worker, in order per
-- record (record_key), idempotently (upsert by external id or update by Id).
CREATE TABLE salesforce_outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Rows with the same key are delivered one after the other, in id order.
    record_key          TEXT NOT NULL,
    -- 'upsert' (by ext_id_field = ext_id_value) or 'update' (by record_id).
    operation           TEXT NOT NULL CHECK (operation IN ('upsert', 'update')),
    sobject             TEXT NOT NULL,
    ext_id_field        TEXT,
    ext_id_value        TEXT,
    record_id           TEXT,
    -- JSON object of field values.
    fields              TEXT NOT NULL,
    -- Fields sent only when the record is created (TaskSubtype cannot be updated).
    create_only_fields  TEXT NOT NULL DEFAULT '{}',
    -- 'pending' until delivered; 'parked' after a permanent error, for an operator.
    state               TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'parked')),
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms  BIGINT NOT NULL,
    claimed_by          TEXT,
    claim_expires_at_ms BIGINT,
    last_error          TEXT,
    salesforce_id       TEXT,
    created_at_ms       BIGINT NOT NULL,
    delivered_at_ms     BIGINT
);
CREATE INDEX salesforce_outbox_due ON salesforce_outbox (state, next_attempt_at_ms);
CREATE INDEX salesforce_outbox_key ON salesforce_outbox (record_key, state, id);
