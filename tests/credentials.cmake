# HTTP tests of the credentials and services API (issue 5): black-box tests of API.md 4.2-4.3
# against a running cofferd. Each binary runs one cofferd on a fresh database; tapi.c holds
# what they share. Every name starts with test_credentials or test_services, so
# `ctest -R "test_credentials|test_services"` runs them all.
add_library(coffer_tapi STATIC support/tapi.c)
target_include_directories(coffer_tapi PUBLIC support)
target_link_libraries(coffer_tapi PUBLIC coffer_tsupport)

foreach(t test_credentials test_credentials_revisions test_credentials_access test_services test_services_mappings)
  coffer_add_test(${t} integration/${t}.c coffer_tapi)
  add_dependencies(${t} cofferd)
endforeach()
