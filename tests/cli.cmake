# Tests of the coffer command-line client (cli/): every command run as a process against a
# cofferd on the aws KMS backend (moto, kmsauth on) and PostgreSQL, its exit status, stdout and
# stderr checked, and what it wrote read back through the API and the database. Built on tkms.c
# (kmsauth.cmake). Run with `./scripts/test -R test_cli`.
coffer_add_test(test_cli integration/test_cli.c coffer_tkms coffer_taudit coffer_auth coffer_kms
                                                 coffer_tsupport)
target_sources(test_cli PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support/tfake_http.c)
add_dependencies(test_cli cofferd coffer)

# Two fixtures (one cofferd, moto keys and a database each) and a few hundred coffer runs
# (about 25 s on the 2-core machine).
set_tests_properties(test_cli PROPERTIES TIMEOUT 300)
