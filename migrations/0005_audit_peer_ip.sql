-- 0005_audit_peer_ip.sql - the TCP peer of a request that a trusted proxy forwarded.
--
-- source_ip holds the client's address: the peer's, unless the peer is a trusted proxy
-- (COFFER_TRUSTED_PROXIES) that named the client in X-Forwarded-For or a PROXY protocol
-- header. peer_ip then holds the proxy's own address, and is null whenever the two are the
-- same, as in every row written before this column existed. The hash chain covers peer_ip only
-- when it is not null (audit_chain.h), so those rows keep their hashes; the append trigger of
-- 0004 checks the chain's linkage only and needs no change. Bounded like source_ip (0002).
ALTER TABLE audit_log
    ADD COLUMN peer_ip text,
    ADD CONSTRAINT audit_log_peer_ip_size CHECK (octet_length(peer_ip) <= 64);
