-- Contact databases of the telephony side and their contacts (CONTACTO_INSERT_SALESFORCE).

-- A contact database (IDDATABASE). Its id is chosen by the administrator, because the
-- telephony configuration (IVR trees, queues) names it. Rows are never updated in place, so
-- the server may cache them.
CREATE TABLE contact_databases (
    id            BIGINT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    -- 'clave_1': contacts are found by their Clave_1 (DATA); 'phone': by the caller's number
    -- in E.164, which is then also the contact's Clave_1.
    key_kind      TEXT NOT NULL CHECK (key_kind IN ('clave_1', 'phone')),
    -- The contact-center CRM the database belongs to (crmId of the call events).
    crm_id        BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- AUTOINCREMENT: contact ids travel to Salesforce (CLAVESF, neoContactId__c) and must never
-- be reused after a delete.
CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    database_id   BIGINT NOT NULL REFERENCES contact_databases (id),
    -- The key field. NULL only inside the transaction that creates a contact with empty DATA,
    -- which then sets it to the contact's own id.
    clave_1       TEXT,
    -- E.164, or NULL when unknown (private caller).
    phone         TEXT,
    name          TEXT,
    -- Other columns of an imported CSV file, as a JSON object.
    extra         TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- One contact per key and database: concurrent calls for the same new key create one contact.
CREATE UNIQUE INDEX contacts_database_clave_1 ON contacts (database_id, clave_1);
