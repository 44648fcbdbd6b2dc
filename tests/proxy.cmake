# Behind a load balancer (issue 24): COFFER_TRUSTED_PROXIES with X-Forwarded-For, the PROXY
# protocol over plain HTTP and before TLS, and the access log's peer_ip in the hash chain.
find_package(OpenSSL REQUIRED)
coffer_add_test(test_trusted_proxies integration/test_trusted_proxies.c coffer_taudit OpenSSL::SSL)
add_dependencies(test_trusted_proxies cofferd coffer)
