#!/usr/bin/env bash
# run.sh TARGET SEEDS WORK RUNS - runs a libFuzzer target over its seeds for RUNS inputs with a
# fixed seed. New inputs and any crash go to WORK (emptied first); the seeds are only read.
set -euo pipefail
target=$1 seeds=$2 work=$3 runs=$4
rm -rf "$work"
mkdir -p "$work/corpus"
exec "$target" -runs="$runs" -seed=1 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$seeds"
