# HTTPS in cofferd (issue 12): TLS 1.3, refused protocols and ciphers, SIGHUP, mutual TLS.
find_package(OpenSSL REQUIRED)
coffer_add_test(test_tls integration/test_tls.c coffer_tapi coffer_auth coffer_kms OpenSSL::SSL)
add_dependencies(test_tls cofferd coffer)
