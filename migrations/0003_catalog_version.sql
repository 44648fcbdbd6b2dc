-- 0003_catalog_version.sql - a version of the whole catalog, for strongly consistent bundle
-- caches on every node.
--
-- Every transaction that changes what a bundle shows (services, their mappings, credentials)
-- moves catalog_version forward, holding its row lock until it commits. Every access-log
-- append (a batch of fetches, or the row a write commits with) first takes that row FOR SHARE
-- and reads it, then locks the chain head, so both kinds of transaction take the two locks in
-- the same order. Hence a write whose row precedes a fetch's row in the log committed before
-- the fetch's append read the version, and the fetch sees a version at least the write's: a
-- node whose cached bundle is older rebuilds it before answering.
CREATE TABLE catalog_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL CHECK (version >= 0)
);
INSERT INTO catalog_version (singleton, version) VALUES (true, 0);

CREATE FUNCTION catalog_version_bump() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE public.catalog_version SET version = version + 1 WHERE singleton;
    RETURN NULL;
END
$$;
CREATE TRIGGER services_catalog_version AFTER INSERT OR UPDATE OR DELETE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
CREATE TRIGGER credentials_catalog_version AFTER INSERT OR UPDATE OR DELETE ON credentials
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
CREATE TRIGGER service_credentials_catalog_version
    AFTER INSERT OR UPDATE OR DELETE ON service_credentials
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();

-- The version only moves forward, only through catalog_version_bump(), and is never removed.
CREATE FUNCTION catalog_version_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.version <> OLD.version + 1 THEN
        RAISE EXCEPTION 'catalog_version only moves forward by one'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER catalog_version_forward BEFORE UPDATE OR DELETE ON catalog_version
    FOR EACH ROW EXECUTE FUNCTION catalog_version_forward_only();
CREATE TRIGGER catalog_version_no_truncate BEFORE TRUNCATE ON catalog_version
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- audit_lock_head() now also returns the catalog version, read FOR SHARE before the head is
-- locked (the order above).
DROP FUNCTION audit_lock_head();
CREATE FUNCTION audit_lock_head(OUT head_id bigint, OUT head_hash text, OUT now_time timestamptz,
                                OUT catalog bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    SELECT v.version INTO catalog FROM public.catalog_version v WHERE v.singleton FOR SHARE;
    SELECT h.id, h.hash INTO head_id, head_hash FROM public.audit_head h WHERE h.singleton
        FOR UPDATE;
    now_time := date_trunc('microseconds', clock_timestamp());
END
$$;
REVOKE ALL ON FUNCTION audit_lock_head() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_lock_head() TO coffer_app;
GRANT SELECT ON catalog_version TO coffer_app;
