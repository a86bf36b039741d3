-- One row per inbound call, for the supervisors' figures: today's counters and hourly series
-- are taken back from it at start-up, and the historical reports read it. Written by the
-- statistics recorder inside the engine's commit (idempotent by call id). Instants are Unix
-- milliseconds (UTC); every figure of a call counts in the hour it was queued (offered).
CREATE TABLE stats_calls (
    -- The engine's call id (unique across restarts: ids are reserved in blocks).
    call_id            BIGINT PRIMARY KEY,
    campaign           BIGINT,
    queue              TEXT,
    queued_at_ms       BIGINT NOT NULL,
    answered_at_ms     BIGINT,
    ended_at_ms        BIGINT,
    -- The agent who answered.
    agent              TEXT,
    -- The agent the call is with now (changes with transfers): only their end, or an
    -- engine-wide one, ends the call; a consulted agent or a ring-out elsewhere does not.
    current_agent      TEXT,
    -- answered | abandoned | missed; NULL while the call goes on.
    outcome            TEXT,
    -- Queued → answered, or queued → ended when nobody answered.
    wait_ms            BIGINT,
    -- Answered → ended (the first agent's leg when it was transferred).
    handle_ms          BIGINT,
    -- The answering agent's wrap-up after the call: started when they entered it, the length
    -- once they left it.
    wrap_started_at_ms BIGINT,
    wrap_up_ms         BIGINT
);
CREATE INDEX stats_calls_queued ON stats_calls (queued_at_ms);
CREATE INDEX stats_calls_open_wrap ON stats_calls (agent)
    WHERE wrap_started_at_ms IS NOT NULL AND wrap_up_ms IS NULL;
CREATE INDEX stats_calls_open ON stats_calls (call_id) WHERE ended_at_ms IS NULL;
