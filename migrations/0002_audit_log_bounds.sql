-- 0002_audit_log_bounds.sql - bounds on what an access-log row may hold.
--
-- cofferd keeps a row's resource id to 256 bytes of valid UTF-8 and a claimed actor to 128
-- bytes (replacement characters may triple them); these limits keep any row within what the
-- indexes can hold, so a hostile path can never make the log refuse a row.
ALTER TABLE audit_log
    ADD CONSTRAINT audit_log_request_id_shape CHECK (request_id ~ '^[0-9a-f]{32}$'),
    ADD CONSTRAINT audit_log_actor_size CHECK (octet_length(actor) <= 512),
    ADD CONSTRAINT audit_log_resource_id_size CHECK (octet_length(resource_id) <= 1024),
    ADD CONSTRAINT audit_log_reason_size CHECK (octet_length(reason) <= 128),
    ADD CONSTRAINT audit_log_source_ip_size CHECK (octet_length(source_ip) <= 64);
