# What an attacker sends, over raw sockets, to the sanitizer build of cofferd (issue 11), and
# the migrations runner on a cluster with none of coffer's roles.
coffer_add_test(test_hostile integration/test_hostile.c coffer_tapi)
add_dependencies(test_hostile cofferd)
coffer_add_test(test_migrate_bare integration/test_migrate_bare.c coffer_tsupport)
add_dependencies(test_migrate_bare cofferd)
coffer_add_test(test_slow_clients integration/test_slow_clients.c coffer_tapi)
add_dependencies(test_slow_clients cofferd)
coffer_add_test(test_limits integration/test_limits.c coffer_tapi)
add_dependencies(test_limits cofferd)
# One strict reading of request framing, and every refusal of it closes its connection; one
# canonical path for every decision (issue 24, items 6 and 8).
coffer_add_test(test_framing integration/test_framing.c coffer_tapi)
add_dependencies(test_framing cofferd)
coffer_add_test(test_path_spellings integration/test_path_spellings.c coffer_tapi)
add_dependencies(test_path_spellings cofferd)
# Admission under slow and idle connections (issue 24, item 3).
coffer_add_test(test_admission integration/test_admission.c coffer_tapi)
add_dependencies(test_admission cofferd)
