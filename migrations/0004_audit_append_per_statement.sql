-- 0004_audit_append_per_statement.sql - the chain check once per INSERT (or COPY) instead of
-- once per row, so that a batch of access-log rows costs one head update, not one per row.
--
-- cofferd computes the chain itself (audit_writer.c) and inserts a batch in one statement. The
-- guarantees of 0001 stay: after every statement that adds rows, the rows it added have the
-- ids head+1 .. head+n (the primary key refuses duplicates, so n rows between those bounds are
-- contiguous), the first one's prev_hash is the head's hash and each other's is the hash of the
-- row before it; the head then moves to the last of them, forward only, and the log stays
-- append-only for every role (0001's triggers). A statement that breaks any of this is refused
-- whole, and its transaction with it.
DROP TRIGGER audit_log_append ON audit_log;
DROP FUNCTION audit_log_append();

CREATE FUNCTION audit_log_append_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    h public.audit_head%ROWTYPE;
    n bigint;
    lo bigint;
    hi bigint;
    broken bigint;
    last_hash text;
BEGIN
    SELECT * INTO h FROM public.audit_head WHERE singleton FOR UPDATE;
    SELECT count(*), min(id), max(id) INTO n, lo, hi FROM appended;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    IF lo <> h.id + 1 OR hi <> h.id + n THEN
        RAISE EXCEPTION 'audit_log rows % to % do not extend the chain head %', lo, hi, h.id
            USING ERRCODE = 'serialization_failure';
    END IF;
    SELECT a.id INTO broken
      FROM appended a LEFT JOIN appended p ON p.id = a.id - 1
     WHERE a.prev_hash IS DISTINCT FROM CASE WHEN a.id = lo THEN h.hash ELSE p.hash END
     ORDER BY a.id LIMIT 1;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'audit_log row % does not extend the chain', broken
            USING ERRCODE = 'serialization_failure';
    END IF;
    SELECT a.hash INTO last_hash FROM appended a WHERE a.id = hi;
    UPDATE public.audit_head SET id = hi, hash = last_hash WHERE singleton;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_append AFTER INSERT ON audit_log
    REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_rows();

-- The head moves forward (by the rows of one statement), only through audit_log_append_rows().
CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <= OLD.id THEN
        RAISE EXCEPTION 'audit_head may only move forward'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
