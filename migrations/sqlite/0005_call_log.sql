-- One row per call an agent handled: what the Salesforce Task of the call is built from, and
-- the link between the call and the Salesforce record it popped or created (neoSyncId).
CREATE TABLE call_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The Task's external id (ctiCallId__c) and CallObject: unique across restarts and instances.
    external_id     TEXT NOT NULL UNIQUE,
    agent           TEXT,
    direction       TEXT NOT NULL,
    phone           TEXT,
    -- The Neotel data of the call (JSON object, Neotel names).
    data            TEXT NOT NULL,
    clavesf         TEXT,
    connected_at_ms BIGINT,
    ended_at_ms     BIGINT,
    end_reason      TEXT,
    disposition     TEXT,
    -- Management information for Task.Description, one line each.
    notes           TEXT NOT NULL DEFAULT '',
    neo_sync_id     BIGINT UNIQUE,
    record_type     TEXT,
    record_id       TEXT,
    created_at_ms   BIGINT NOT NULL
);
CREATE INDEX call_log_agent ON call_log (agent, id);
