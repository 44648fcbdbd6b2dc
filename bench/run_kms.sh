#!/usr/bin/env bash
# bench/run_kms.sh - builds Release and runs bench_kms: the local KMS backend, envelope
# sealing and opening (data-key cache hit and miss), in operations per second.
# Usage: bench/run_kms.sh [SECONDS_PER_BENCH]   (default 2)
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$COFFER_ROOT"
build Release build/release
exec "$COFFER_ROOT/build/release/bench/bench_kms" --seconds "${1:-2}"
