-- 0001_initial_schema.sql - coffer's whole data model (DESIGN.md "Data model").
--
-- Applied by `cofferd migrate` as the schema owner, in one transaction. The runner itself
-- creates schema_migrations (it must exist before the first migration is recorded).
--
-- Privileges go to the group role coffer_app; deployments create a login role that is a
-- member of it (scripts/run does). cofferd's role may read and write the mutable tables,
-- may only append to revision tables, and may only INSERT and SELECT the access log.

-- Services and their revisions -------------------------------------------------------------

CREATE TABLE services (
    id            text PRIMARY KEY
                  CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.@+=,-]{0,127}$'),
    account       text,
    enabled       boolean NOT NULL DEFAULT true,
    revision      integer NOT NULL CHECK (revision >= 1),
    modified_date timestamptz NOT NULL,
    modified_by   text NOT NULL
);

-- A full copy of every revision, credentials included (ids, as mapped at that revision).
CREATE TABLE service_revisions (
    service_id    text NOT NULL REFERENCES services (id),
    revision      integer NOT NULL CHECK (revision >= 1),
    account       text,
    enabled       boolean NOT NULL,
    credentials   text[] NOT NULL DEFAULT '{}',
    modified_date timestamptz NOT NULL,
    modified_by   text NOT NULL,
    PRIMARY KEY (service_id, revision)
);

-- Credentials and their revisions ----------------------------------------------------------

CREATE TABLE credentials (
    id                 text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    name               text NOT NULL UNIQUE
                       CHECK (char_length(name) BETWEEN 1 AND 256),
    revision           integer NOT NULL CHECK (revision >= 1),
    enabled            boolean NOT NULL DEFAULT true,
    metadata           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    documentation      text,
    tags               text[] NOT NULL DEFAULT '{}',
    credential_keys    text[] NOT NULL DEFAULT '{}',
    last_rotation_date timestamptz,
    modified_date      timestamptz NOT NULL,
    modified_by        text NOT NULL
);

-- Every revision is kept. The pairs exist only sealed: AES-256-GCM under a data key that is
-- stored KMS-encrypted (DESIGN.md "Envelope encryption"). Key names stay in clear (metadata).
CREATE TABLE credential_revisions (
    credential_id      text NOT NULL REFERENCES credentials (id),
    revision           integer NOT NULL CHECK (revision >= 1),
    name               text NOT NULL,
    enabled            boolean NOT NULL,
    metadata           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    documentation      text,
    tags               text[] NOT NULL DEFAULT '{}',
    credential_keys    text[] NOT NULL DEFAULT '{}',
    last_rotation_date timestamptz,
    modified_date      timestamptz NOT NULL,
    modified_by        text NOT NULL,
    format_version     smallint NOT NULL CHECK (format_version >= 1),
    kms_key_id         text NOT NULL,
    data_key           bytea NOT NULL,                                  -- KMS ciphertext blob
    nonce              bytea NOT NULL CHECK (octet_length(nonce) = 12),
    ciphertext         bytea NOT NULL CHECK (octet_length(ciphertext) >= 16), -- sealed + tag
    PRIMARY KEY (credential_id, revision)
);

-- The current mapping; its history is service_revisions.credentials.
CREATE TABLE service_credentials (
    service_id    text NOT NULL REFERENCES services (id),
    credential_id text NOT NULL REFERENCES credentials (id),
    PRIMARY KEY (service_id, credential_id)
);
CREATE INDEX service_credentials_by_credential ON service_credentials (credential_id, service_id);

-- Listings sort case-insensitively (API.md 4.2, 4.3) and page by that order.
CREATE INDEX services_by_lower_id ON services (lower(id), id);
CREATE INDEX credentials_by_lower_name ON credentials (lower(name), id);

-- People and tokens ------------------------------------------------------------------------

-- Bearer tokens for admins and auditors (API.md 8.1): only the SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id           text PRIMARY KEY CHECK (id ~ '^tok_[0-9a-f]{16}$'),
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    role         text NOT NULL CHECK (role IN ('admin', 'auditor')),
    token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL,
    created_by   text NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    revoked_by   text,
    CHECK (expires_at > created_at),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
-- A name is unique among tokens that are not revoked.
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
CREATE INDEX api_tokens_by_created ON api_tokens (created_at DESC, id);

-- People who sign in with kmsauth user tokens, and the role an admin gave them (API.md 8.4).
CREATE TABLE principals (
    name        text PRIMARY KEY CHECK (name ~ '^[\x21-\x7e]{1,128}$' AND name !~ '[/:]'),
    role        text NOT NULL CHECK (role IN ('admin', 'auditor')),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    modified_at timestamptz NOT NULL,
    modified_by text NOT NULL
);

-- The access log ---------------------------------------------------------------------------

-- One row per access decision (API.md 8.2). Column names are the API's field names: auditors
-- query this table with SQL too. Rows are hash-chained: hash = SHA-256(prev raw hash ||
-- canonical JSON of id..reason); ids are contiguous, taken from audit_head.
CREATE TABLE audit_log (
    id            bigint PRIMARY KEY CHECK (id >= 1),
    time          timestamptz NOT NULL,
    request_id    text NOT NULL,
    actor_type    text NOT NULL
                  CHECK (actor_type IN ('service', 'user', 'token', 'system', 'anonymous')),
    actor         text NOT NULL,
    source_ip     text NOT NULL,
    action        text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)?$'),
    resource_type text CHECK (resource_type IN
                              ('service', 'credential', 'token', 'principal', 'audit', 'identity')),
    resource_id   text,
    revision      integer,
    result        text NOT NULL CHECK (result IN ('allowed', 'denied', 'error')),
    reason        text NOT NULL,
    prev_hash     text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash          text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);
-- Auditor filters (API.md 8.2) page by id; each filter has an index ending in id.
CREATE INDEX audit_log_by_time ON audit_log (time, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
CREATE INDEX audit_log_by_actor_type ON audit_log (actor_type, id);
CREATE INDEX audit_log_by_action ON audit_log (action, id);
CREATE INDEX audit_log_by_resource ON audit_log (resource_type, resource_id, id);
CREATE INDEX audit_log_by_result ON audit_log (result, id);
CREATE INDEX audit_log_by_request ON audit_log (request_id);

-- The chain head: one row, moved forward only by the insert trigger below.
CREATE TABLE audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id        bigint NOT NULL CHECK (id >= 0),
    hash      text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);
INSERT INTO audit_head (singleton, id, hash) VALUES (true, 0, repeat('0', 64));

-- Locks the head for the calling transaction and returns it with the database's clock, so
-- every node appends in one total order with one time source. SECURITY DEFINER: the
-- application role cannot lock (or update) audit_head itself.
CREATE FUNCTION audit_lock_head(OUT head_id bigint, OUT head_hash text, OUT now_time timestamptz)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT id, hash, date_trunc('microseconds', clock_timestamp())
      FROM public.audit_head WHERE singleton FOR UPDATE
$$;

-- Every inserted row must extend the chain by exactly one: id = head + 1 and prev_hash = the
-- head's hash. The trigger then moves the head, so it only ever moves forward.
CREATE FUNCTION audit_log_append() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    h public.audit_head%ROWTYPE;
BEGIN
    SELECT * INTO h FROM public.audit_head WHERE singleton FOR UPDATE;
    IF NEW.id <> h.id + 1 OR NEW.prev_hash <> h.hash THEN
        RAISE EXCEPTION 'audit_log row % does not extend the chain head %', NEW.id, h.id
            USING ERRCODE = 'serialization_failure';
    END IF;
    UPDATE public.audit_head SET id = NEW.id, hash = NEW.hash WHERE singleton;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_append BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append();

-- The log is append-only for every role.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
-- The head moves forward by one row at a time, and only through audit_log_append().
CREATE FUNCTION audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id + 1 THEN
        RAISE EXCEPTION 'audit_head may only move forward by one row'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- Privileges of the application role -------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit_lock_head() FROM PUBLIC;

GRANT SELECT, INSERT, UPDATE ON services, credentials TO coffer_app;
GRANT SELECT, INSERT ON service_revisions, credential_revisions TO coffer_app;
GRANT SELECT, INSERT, DELETE ON service_credentials TO coffer_app;
GRANT SELECT, INSERT, UPDATE ON api_tokens TO coffer_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON principals TO coffer_app;
GRANT SELECT, INSERT ON audit_log TO coffer_app;
GRANT SELECT ON audit_head, schema_migrations TO coffer_app;
GRANT EXECUTE ON FUNCTION audit_lock_head() TO coffer_app;
