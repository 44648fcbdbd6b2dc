# Tests of kmsauth authentication and the bundle (issue 6): black-box tests of API.md 2, 3.2,
# 6 and 8.2-8.5 against cofferd on the aws KMS backend (moto). tkms.c holds what they share
# (on top of tapi.c, the credentials and services helpers). Run them all with
# `./scripts/test -R "test_kmsauth|test_bundle|test_principals|test_two_nodes|test_official"`.
add_library(coffer_tkms STATIC support/tkms.c support/tproxy.c)
target_include_directories(coffer_tkms PUBLIC support)
target_link_libraries(coffer_tkms PUBLIC coffer_tapi coffer_auth coffer_kms coffer_tsupport
                                         CURL::libcurl)

foreach(t test_kmsauth test_bundle test_principals test_two_nodes test_official_clients
          test_kms_faults)
  coffer_add_test(${t} integration/${t}.c coffer_tkms coffer_auth coffer_kms coffer_tsupport)
  add_dependencies(${t} cofferd coffer)
endforeach()

target_compile_definitions(test_official_clients
                           PRIVATE COFFER_TEST_PY_DIR="${CMAKE_CURRENT_SOURCE_DIR}/python")

# test_kmsauth starts and stops moto_servers of its own; test_official_clients runs the
# Python script python/kmsauth_client.py with $COFFER_TEST_PYTHON (boto3 and requests).
set_tests_properties(test_kmsauth test_two_nodes test_official_clients PROPERTIES TIMEOUT 300)
