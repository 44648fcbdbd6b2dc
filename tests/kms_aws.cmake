# Tests of the aws KMS backend: the shared moto, a private moto with signature checking on,
# and a local fault injector / fake credentials endpoints (support/tfake_http.c).
coffer_add_test(test_kms_aws integration/test_kms_aws.c coffer_kms coffer_tsupport)
target_sources(test_kms_aws PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support/tfake_http.c)
target_link_libraries(test_kms_aws PRIVATE CURL::libcurl)
# It starts a moto_server of its own (a few seconds) besides the shared one.
set_tests_properties(test_kms_aws PROPERTIES TIMEOUT 300)
