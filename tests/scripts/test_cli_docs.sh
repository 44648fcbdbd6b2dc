#!/usr/bin/env bash
# test_cli_docs.sh COFFER - docs/coffer.1 and docs/coffer.bash are what the client's own help
# table prints (regenerate them with `coffer help --man` and `coffer help --bash-completion`),
# the man page renders without warnings, and the completion completes commands and options.
set -euo pipefail
COFFER=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

"$COFFER" help --man | cmp -s - "$ROOT/docs/coffer.1" ||
  fail "docs/coffer.1 is stale: run $COFFER help --man > docs/coffer.1"
"$COFFER" help --bash-completion | cmp -s - "$ROOT/docs/coffer.bash" ||
  fail "docs/coffer.bash is stale: run $COFFER help --bash-completion > docs/coffer.bash"

# the man page: groff warns about nothing, and every command is in it
warnings=$(groff -man -Tutf8 -ww -z "$ROOT/docs/coffer.1" 2>&1 || true)
[ -z "$warnings" ] || fail "groff warns about docs/coffer.1: $warnings"
page=$(groff -man -Tutf8 "$ROOT/docs/coffer.1" 2>/dev/null | sed 's/.\x08//g')
for cmd in "token generate" "exec" "credential update" "service map" "audit verify"; do
  grep -Eq "coffer +${cmd// / +}" <<<"$page" || fail "the man page does not show coffer $cmd"
done
grep -q "EXIT STATUS" <<<"$page" || fail "the man page has no EXIT STATUS"

# the completion: what a user gets on TAB
. "$ROOT/docs/coffer.bash"
complete_words() { # completes the last of the given words
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _coffer
  echo "${COMPREPLY[*]}"
}
[ "$(complete_words coffer cred)" = credential ] || fail "coffer cred<TAB>: $(complete_words coffer cred)"
[[ " $(complete_words coffer credential '') " == *" update "* ]] || fail "coffer credential <TAB>"
[[ " $(complete_words coffer exec web --pr) " == *" --pristine "* ]] || fail "coffer exec web --pr<TAB>"
[[ " $(complete_words coffer audit verify --exp) " == *" --expect-head "* ]] || fail "coffer audit verify --exp<TAB>"
echo "docs and completion are current"
