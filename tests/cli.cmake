# Tests of the coffer command-line client (cli/): every command run as a process against a
# cofferd on the aws KMS backend (moto, kmsauth on) and PostgreSQL, its exit status, stdout and
# stderr checked, and what it wrote read back through the API and the database. One binary per
# command family, all built on support/tcli.c (running coffer, reading its output, the secrets
# no command line may hold), itself on tkms.c (kmsauth.cmake):
#   test_cli_get    token generate, get, exec (exec's retries against support/tfake_http.c)
#   test_cli_admin  credential, service, api-token and principal commands; values on stdin
#   test_cli_audit  audit list, audit verify
#   test_cli_misc   help and usage, flags and the token file, secret hygiene, exit codes
#   test_cli_output what people see is escaped (hostile access-log rows, names, values, the
#                   server's messages) and claimed names look claimed; JSON lines are exact
# Run them all with `./scripts/test -R test_cli`.
add_library(coffer_tcli STATIC support/tcli.c support/tfake_http.c)
target_include_directories(coffer_tcli PUBLIC support)
target_link_libraries(coffer_tcli PUBLIC coffer_tkms coffer_taudit coffer_auth coffer_kms
                                         coffer_tsupport)

# cli/cli_out.c (unit): escaped tables and messages, exact JSON lines.
coffer_add_test(test_cli_out unit/test_cli_out.c coffer_cli)

foreach(t test_cli_get test_cli_admin test_cli_audit test_cli_misc test_cli_output)
  coffer_add_test(${t} integration/${t}.c coffer_tcli coffer_tkms coffer_taudit coffer_auth
                                          coffer_kms coffer_tsupport)
  add_dependencies(${t} cofferd coffer)
  # each binary: one fixture (a cofferd, moto keys and a database; test_cli_audit a second for
  # its tamper test) and up to a few hundred coffer runs
  set_tests_properties(${t} PROPERTIES TIMEOUT 300)
endforeach()
