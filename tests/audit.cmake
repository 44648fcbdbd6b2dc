# Tests of the access log (issue 7): black-box tests of API.md 8.2, 8.5 and 9.3 against a
# running cofferd. taudit.c holds what they share (on top of tapi.c): a cofferd with service
# kmsauth on the local backend, a request's row read back through the auditors' API, the chain
# recomputed in the test, both verifiers, tampering as the superuser. Run them all with
# `./scripts/test -R test_audit`.
add_library(coffer_taudit STATIC support/taudit.c)
target_include_directories(coffer_taudit PUBLIC support)
target_link_libraries(coffer_taudit PUBLIC coffer_tapi coffer_tsupport)

foreach(t test_audit test_audit_query test_audit_burst test_audit_tamper test_audit_outage
          test_kill_during_writes test_secret_hygiene test_auth_rate_limit)
  coffer_add_test(${t} integration/${t}.c coffer_taudit)
  add_dependencies(${t} cofferd coffer)
endforeach()

# test_audit_outage stops and starts the shared PostgreSQL cluster: nothing may run beside it.
set_tests_properties(test_audit_outage PROPERTIES RUN_SERIAL TRUE)

# test_secret_hygiene also runs cofferd on the aws KMS backend (moto), through tkms.c.
target_link_libraries(test_secret_hygiene PRIVATE coffer_tkms)
