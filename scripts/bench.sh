#!/usr/bin/env bash
# Benchmarks of issue 7: analyze against the disk-read floor, analyze on one 2 GB server log,
# the dry run of the 759-run sample config, and analyze with one versus two workers.
#
# Usage: scripts/bench.sh [WORKDIR]   (default WORKDIR: /var/tmp/bench-results)
# Needs: hyperfine and GNU time (/usr/bin/time), from Debian's `hyperfine` and `time` packages.
# Prints the numbers; BENCHMARKS.md records them with the machine they were taken on.
set -euo pipefail
cd "$(dirname "$0")/.."

work=${1:-/var/tmp/bench-results}
runs=${BENCH_RUNS:-1000}
log_bytes=${BENCH_LOG_BYTES:-2000000}
big_log_bytes=${BENCH_BIG_LOG_BYTES:-2000000000}

for tool in hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "error: \`$tool\` not found: apt-get install hyperfine time" >&2; exit 1; }
done

cargo build --release --locked -p analyze -p launch -p gen-results
bin=target/release

tree=$work/tree-$runs-$log_bytes
if [ ! -d "$tree" ]; then
  echo "generating $runs runs with ${log_bytes}-byte server logs in $tree"
  "$bin/gen-results" --out "$tree" --runs "$runs" --log-bytes "$log_bytes"
fi
big=$work/big-$big_log_bytes
if [ ! -d "$big" ]; then
  echo "generating one run with a ${big_log_bytes}-byte server log in $big"
  "$bin/gen-results" --out "$big" --runs 1 --log-bytes "$big_log_bytes" --failure-percent 0 --duplicate-percent 0
fi
out=$work/out
mkdir -p "$out"

echo "== (a) analyze on $runs runs vs. the cat floor (warm page cache)"
# The floor: reading every file analyze reads, once, to /dev/null.
hyperfine --warmup 2 --runs 10 \
  --command-name floor "find '$tree' -type f -print0 | xargs -0 cat > /dev/null" \
  --command-name analyze "$bin/analyze --root '$tree' --out '$out' --quiet"

echo "== (b) analyze on one ${big_log_bytes}-byte server log: wall time and peak RSS"
/usr/bin/time -v "$bin/analyze" --root "$big" --out "$out" --quiet 2>&1 \
  | grep -E 'Elapsed \(wall clock\)|Maximum resident set size'

echo "== (c) launch --dry-run of the 759-run sample config"
hyperfine --warmup 3 --runs 20 --input null \
  "$bin/launch --config configs/sample_benchmark_config.yaml --dry-run --json > /dev/null 2>&1"

echo "== (d) analyze --jobs 1 vs --jobs 2 on (a)"
hyperfine --warmup 1 --runs 5 \
  --command-name jobs1 "$bin/analyze --root '$tree' --out '$out' --quiet --jobs 1" \
  --command-name jobs2 "$bin/analyze --root '$tree' --out '$out' --quiet --jobs 2"
