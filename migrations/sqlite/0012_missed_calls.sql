-- One row per inbound call that ended without any agent answering it (abandoned, no agent,
-- rang out everywhere, outside hours), written in the commit of the change that ended it with
-- its Salesforce Task. Open until a call back connects or the caller calls again and is answered.
-- An inbound call is a 'waiting' row while it waits in its queue, so that one the process dies
-- with is recorded as missed when the next process starts.
CREATE TABLE missed_calls (
    -- The engine's call id: unique across restarts and instances (the Task's ctiCallId__c).
    call_id         BIGINT PRIMARY KEY,
    phone           TEXT,
    campaign        BIGINT NOT NULL,
    queue           TEXT NOT NULL,
    -- abandoned | noAgent | ringOut | outsideHours | serverRestart ('waiting' while it waits)
    reason          TEXT NOT NULL,
    arrived_at_ms   BIGINT NOT NULL,
    ended_at_ms     BIGINT NOT NULL,
    waited_secs     BIGINT NOT NULL,
    -- The caller's Salesforce record, when known (Contact, Lead, Account, ...).
    record_type     TEXT,
    record_id       TEXT,
    -- Its Name, as the owner lookup found it (shown in the agents' list).
    record_name     TEXT,
    -- The record's owner: Salesforce user id and, when there is one, the agent bound to it.
    owner_id        TEXT,
    owner_agent     TEXT,
    -- The Neotel data of the call (JSON object, Neotel names).
    data            TEXT NOT NULL,
    -- waiting (in its queue now: no list shows it; deleted when answered) | open | closed
    status          TEXT NOT NULL DEFAULT 'open',
    -- The call that closed it (a call back, or the caller's next answered call), its agent, when.
    closed_by       BIGINT,
    closed_by_agent TEXT,
    closed_at_ms    BIGINT
);
CREATE INDEX missed_calls_open ON missed_calls (status, campaign, ended_at_ms);
CREATE INDEX missed_calls_phone ON missed_calls (phone, status);
