#!/usr/bin/env bash
# Benchmarks of issue 7: analyze against the disk-read floor, analyze on one 2 GB server log,
# the dry run of the 759-run sample config, and analyze with one versus two workers.
#
# Usage: scripts/bench.sh [WORKDIR]   (default WORKDIR: /var/tmp/bench-results)
# Needs: hyperfine and GNU time (/usr/bin/time), from Debian's `hyperfine` and `time` packages.
# The trees are generated once into WORKDIR (about 4 GB) and reused. Each benchmark first waits
# (at most BENCH_MAX_WAIT seconds) until the CPUs are at least BENCH_MIN_IDLE percent idle over
# 5 seconds (other processes would skew it; the load average lags by minutes and counts our own
# previous benchmark), and prints the idle share and the load average before and after it.
# BENCHMARKS.md records the numbers with the machine they were taken on.
set -euo pipefail
cd "$(dirname "$0")/.."

work=${1:-/var/tmp/bench-results}
runs=${BENCH_RUNS:-1000}
log_bytes=${BENCH_LOG_BYTES:-2000000}
big_log_bytes=${BENCH_BIG_LOG_BYTES:-2000000000}
min_idle=${BENCH_MIN_IDLE:-90}
max_wait=${BENCH_MAX_WAIT:-900}

for tool in hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "error: \`$tool\` not found: apt-get install hyperfine time" >&2; exit 1; }
done

load() { cut -d' ' -f1-3 /proc/loadavg; }

# Percent of all CPUs' time spent idle over the next 5 seconds.
idle_percent() {
  local before after i total=0
  read -r -a before < <(grep '^cpu ' /proc/stat)
  sleep 5
  read -r -a after < <(grep '^cpu ' /proc/stat)
  # Fields: user nice system idle iowait irq softirq steal.
  for i in 1 2 3 4 5 6 7 8; do
    total=$((total + after[i] - before[i]))
  done
  echo $((100 * (after[4] + after[5] - before[4] - before[5]) / (total > 0 ? total : 1)))
}

# Wait until the CPUs are at least $min_idle percent idle (or $max_wait seconds have passed).
wait_for_quiet() {
  local waited=0 idle
  idle=$(idle_percent)
  while ((idle < min_idle)); do
    if ((waited >= max_wait)); then
      echo "note: CPUs only ${idle}% idle after ${max_wait}s: measuring anyway"
      break
    fi
    waited=$((waited + 5))
    idle=$(idle_percent)
  done
  echo "before: CPUs ${idle}% idle over 5 s, load average $(load)"
}

report_after() { echo "after: CPUs $(idle_percent)% idle over 5 s, load average $(load)"; }

echo "== machine"
echo "cpus: $(nproc) x$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
awk '/MemTotal/ { printf "memory: %.1f GiB\n", $2 / 1048576 }' /proc/meminfo
echo "disk of $work: $(df -h --output=source,size,fstype "$(dirname "$work")" | tail -1)"

cargo build --release --locked -p analyze -p launch -p gen-results
bin=target/release
mkdir -p "$work"

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
echo "tree (a): $(du -sh "$tree" | cut -f1) in $(find "$tree" -type f | wc -l) files"

echo "== (a) analyze on $runs runs vs. the cat floor (warm page cache)"
wait_for_quiet
# The floor: reading every file of the tree, once, to /dev/null (analyze reads less: only the
# first and last 100,000 bytes of the server logs of runs that failed).
hyperfine --warmup 2 --runs 10 --export-json "$work/a.json" \
  --command-name floor "find '$tree' -type f -print0 | xargs -0 cat > /dev/null" \
  --command-name analyze "$bin/analyze --root '$tree' --out '$out' --quiet"
report_after

echo "== (b) analyze on one ${big_log_bytes}-byte server log: wall time and peak RSS"
cat "$(find "$big" -name '*.log' | head -1)" > /dev/null
wait_for_quiet
for _ in 1 2 3; do
  /usr/bin/time -v "$bin/analyze" --root "$big" --out "$out" --quiet 2>&1 \
    | grep -E 'Elapsed \(wall clock\)|Maximum resident set size|User time|System time'
done
report_after

echo "== (c) launch --dry-run of the 759-run sample config"
wait_for_quiet
hyperfine --warmup 3 --runs 30 --export-json "$work/c.json" \
  "$bin/launch --config configs/sample_benchmark_config.yaml --dry-run > /dev/null 2>&1"
report_after

echo "== (d) analyze --jobs 1 vs --jobs 2 on (a)"
wait_for_quiet
hyperfine --warmup 1 --runs 10 --export-json "$work/d.json" \
  --command-name jobs1 "$bin/analyze --root '$tree' --out '$out' --quiet --jobs 1" \
  --command-name jobs2 "$bin/analyze --root '$tree' --out '$out' --quiet --jobs 2"
report_after
