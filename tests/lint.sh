#!/usr/bin/env bash
# tests/lint.sh BUILD_DIR - the lint test: clang-format and clang-tidy must find nothing.
#
# (a) `clang-format --dry-run --Werror` on every tracked .c and .h file (git ls-files; without
#     git, or outside a work tree, every .c and .h under the repository but build trees and var/).
# (b) clang-tidy, with the repository's .clang-tidy and BUILD_DIR's compile_commands.json, on the
#     production sources (common db kms audit auth service cli bench; not tests/), two at a time.
#     Headers are checked through the .c files that include them (HeaderFilterRegex).
# (c) coffer's own rules, which neither tool knows: JSON is parsed only by cf_json_parse()
#     (common/cf_json.c), which bounds the nesting before jansson's recursive parser sees it;
#     and no script writes `export NAME=$(command)`, whose exit status is export's, so a
#     failing command goes unnoticed under `set -e`; and no test calls cmocka_run_group_tests()
#     itself (cmocka 1.1.5 does not count a failed group teardown: t_run_group_tests() does).
#
# Exits 0 when both are clean, 1 listing every finding otherwise, 2 on a usage or set-up error.
# CLANG_FORMAT and CLANG_TIDY name other binaries; LINT_JOBS sets the parallel clang-tidy runs.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
CLANG_TIDY=${CLANG_TIDY:-clang-tidy}
JOBS=${LINT_JOBS:-2}
PRODUCTION_DIRS="common db kms audit auth service cli bench"

usage_error() {
    printf 'lint: %s\n' "$*" >&2
    exit 2
}

[ $# -eq 1 ] || usage_error "usage: tests/lint.sh BUILD_DIR (a CMake build tree of coffer)"
BUILD=$(cd "$1" 2>/dev/null && pwd) || usage_error "no such build directory: $1"
[ -f "$BUILD/compile_commands.json" ] ||
    usage_error "$BUILD/compile_commands.json is missing: configure with cmake (the top-level" \
        "CMakeLists.txt sets CMAKE_EXPORT_COMPILE_COMMANDS)"
for tool in "$CLANG_FORMAT" "$CLANG_TIDY"; do
    command -v "$tool" >/dev/null 2>&1 ||
        usage_error "$tool not found: install the Debian packages clang-format and clang-tidy"
done

cd "$ROOT" || usage_error "cannot enter $ROOT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-lint.XXXXXX") || usage_error "mktemp failed"
trap 'rm -rf "$WORK"' EXIT
failed=0

# --- (a) clang-format ------------------------------------------------------------------------

# c_files: every tracked .c and .h, NUL-separated, relative to the repository root.
c_files() {
    if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z -- '*.c' '*.h'
    else
        find . -type d \( -name .git -o -name 'build*' -o -name var \
            -o -path "./${BUILD#"$ROOT"/}" \) -prune -o -type f \( -name '*.c' -o -name '*.h' \) \
            -print0
    fi
}

c_files >"$WORK/format.list"
nformat=$(tr -cd '\0' <"$WORK/format.list" | wc -c)
[ "$nformat" -gt 0 ] || usage_error "no C files found under $ROOT"
if ! xargs -0 "$CLANG_FORMAT" --dry-run --Werror <"$WORK/format.list" >"$WORK/format.out" 2>&1
then
    printf 'lint: clang-format: these files differ from .clang-format (fix with clang-format -i):\n'
    grep -E '^[^ ].*: (error|warning):' "$WORK/format.out" | cut -d: -f1 | sort -u | sed 's/^/  /'
    printf 'lint: clang-format: the first differences:\n'
    head -40 "$WORK/format.out" | sed 's/^/  /'
    failed=1
fi

# --- (b) clang-tidy --------------------------------------------------------------------------

# One clang-tidy per file: run on several files at once, clang-tidy 14's valist checker
# reports false positives in every file after the first (see cf_fmt() in common/cf_str.c).
for d in $PRODUCTION_DIRS; do
    for f in "$d"/*.c; do
        [ -f "$f" ] && printf '%s\0' "$f"
    done
done >"$WORK/tidy.list"
ntidy=$(tr -cd '\0' <"$WORK/tidy.list" | wc -c)
[ "$ntidy" -gt 0 ] || usage_error "no production .c files found under $ROOT"

mkdir "$WORK/tidy"
export CLANG_TIDY BUILD WORK
# Each run leaves FILE's output in tidy/<file with / as _>.out and its exit status in .rc.
xargs -0 -P "$JOBS" -n 1 bash -c '
    out="$WORK/tidy/${0//\//_}"
    "$CLANG_TIDY" -p "$BUILD" --quiet "$0" >"$out.out" 2>&1
    echo $? >"$out.rc"
' <"$WORK/tidy.list"

: >"$WORK/tidy.findings"
: >"$WORK/tidy.broken"
for rc in "$WORK"/tidy/*.rc; do
    out=${rc%.rc}.out
    grep -E ': (warning|error): ' "$out" >>"$WORK/tidy.findings"
    # a non-zero exit without a finding: clang-tidy could not check the file at all
    if [ "$(cat "$rc")" != 0 ] && ! grep -qE ': (warning|error): ' "$out"; then
        printf '%s\n' "$(basename "$out" .out)" >>"$WORK/tidy.broken"
        sed 's/^/    /' "$out" | head -20 >>"$WORK/tidy.broken"
    fi
done
nrc=$(find "$WORK/tidy" -name '*.rc' | wc -l)
if [ "$nrc" -ne "$ntidy" ]; then
    printf 'lint: clang-tidy ran on %s of %s files\n' "$nrc" "$ntidy"
    failed=1
fi
if [ -s "$WORK/tidy.findings" ]; then
    # a finding in a header is reported once per .c file that includes it: list it once
    sort -u "$WORK/tidy.findings" | sed "s|^$ROOT/||" >"$WORK/tidy.unique"
    printf 'lint: clang-tidy: %s finding(s) in the production sources (fix them; a NOLINT only\n' \
        "$(wc -l <"$WORK/tidy.unique")"
    printf 'lint: where a check is wrong for one line, with the check name and the reason):\n'
    sed 's/^/  /' "$WORK/tidy.unique"
    failed=1
fi
if [ -s "$WORK/tidy.broken" ]; then
    printf 'lint: clang-tidy failed without a finding on:\n'
    sed 's/^/  /' "$WORK/tidy.broken"
    failed=1
fi

# --- (c) coffer's rules -----------------------------------------------------------------------

for d in $PRODUCTION_DIRS; do
    grep -nE '\bjson_load(b|s|f|fd|_callback)?[[:space:]]*\(' "$d"/*.c "$d"/*.h 2>/dev/null |
        grep -vE '^common/cf_json\.[ch]:'
done >"$WORK/rules.json"
if [ -s "$WORK/rules.json" ]; then
    printf 'lint: JSON parsed without the depth bound (use cf_json_parse from cf_json.h):\n'
    sed 's/^/  /' "$WORK/rules.json"
    failed=1
fi
grep -nE '^[[:space:]]*export[[:space:]]+[A-Za-z_][A-Za-z_0-9]*=["]?\$\(' scripts/* .ci/* bench/*.sh \
    2>/dev/null >"$WORK/rules.export"
if [ -s "$WORK/rules.export" ]; then
    printf 'lint: export NAME=$(...) hides the command'"'"'s failure (assign, then export):\n'
    sed 's/^/  /' "$WORK/rules.export"
    failed=1
fi

grep -rnE '\bcmocka_run_group_tests(_name)?[[:space:]]*\(' tests --include='*.c' \
    >"$WORK/rules.group" 2>/dev/null
if [ -s "$WORK/rules.group" ]; then
    printf 'lint: a failed group teardown would pass (use t_run_group_tests from trun.h):\n'
    sed 's/^/  /' "$WORK/rules.group"
    failed=1
fi

if [ "$failed" -ne 0 ]; then
    printf 'lint: FAILED\n'
    exit 1
fi
printf 'lint: clean: clang-format on %s files, clang-tidy on %s production sources\n' \
    "$nformat" "$ntidy"
exit 0
