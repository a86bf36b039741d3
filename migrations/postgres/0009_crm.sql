-- CRM interaction: external sites (web CRMs the campaigns invoke on each call), the
-- parameters each campaign sends to its site, and the outbox of the requests the server sends
-- itself (trigger "server" and "disposition").

-- An external site, by its name. The definition is a JSON object (url, trigger, method,
-- format, target, auth); it holds the token endpoint's password, which is never shown.
CREATE TABLE crm_sites (
    name          TEXT PRIMARY KEY NOT NULL,
    definition    TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- The site a campaign invokes and the parameters it sends (JSON object: site, params,
-- dispositions).
CREATE TABLE crm_campaigns (
    campaign      BIGINT PRIMARY KEY NOT NULL,
    definition    TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- One request to a CRM: inserted, already rendered, in the transaction of the call's state
-- change that causes it, delivered at least once by the CRM worker.
CREATE TABLE crm_outbox (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- What the request is for (trigger, call, site): one request per call and trigger.
    dedup_key           TEXT NOT NULL UNIQUE,
    site                TEXT NOT NULL,
    campaign            BIGINT,
    call_id             TEXT,
    method              TEXT NOT NULL CHECK (method IN ('GET', 'POST')),
    url                 TEXT NOT NULL,
    content_type        TEXT,
    body                TEXT NOT NULL DEFAULT '',
    -- 'pending' until delivered; 'parked' after the CRM refused it (4xx), for an operator.
    state               TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'parked')),
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms  BIGINT NOT NULL,
    claimed_by          TEXT,
    claim_expires_at_ms BIGINT,
    -- The CRM's last answer: HTTP status and the start of its body, or the transport error.
    last_status         BIGINT,
    last_error          TEXT,
    created_at_ms       BIGINT NOT NULL,
    delivered_at_ms     BIGINT
);
CREATE INDEX crm_outbox_due ON crm_outbox (state, next_attempt_at_ms);
