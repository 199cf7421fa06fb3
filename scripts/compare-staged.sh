#!/usr/bin/env bash
# Staged versus grid on the simulated performance surface (tests/fixtures/simulated_inference):
# runs configs/staged_sample_config.yaml to its end, and the hand-tiered method (tier 0's full
# tp x max-num-seqs x max-num-batched-tokens grid, then tier 1 from each model's tier-0
# winner: the staged config with its tier0b stages removed and tier 0 sweeping
# max-num-batched-tokens), each by repeated `launch`es until one submits nothing; then
# `analyze` both and compares each model's best output tokens/s per GPU and the runs and
# GPU-hours (GPUs x the 1:59:00 time limit) each submitted.
#
# No cluster: `sbatch` is a stand-in that runs each job's script at once (its .out where the
# script's `--output` says) and `squeue` lists nothing; the simulated script sleeps 0 s.
#
# Usage: scripts/compare-staged.sh [WORKDIR]   (default: a new temporary directory)
# Needs: the release binaries (cargo build --release) and python3.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/compare-staged.XXXXXX)}
launch="$repo/target/release/launch"
analyze="$repo/target/release/analyze"
for binary in "$launch" "$analyze"; do
  [[ -x $binary ]] || { echo "error: $binary is missing: run cargo build --release" >&2; exit 1; }
done

# A stand-in `sbatch --parsable SCRIPT`: the next job id; runs SCRIPT now, output to --output.
fake_bin="$work/bin"
mkdir -p "$fake_bin"
cat >"$fake_bin/sbatch" <<'SH'
#!/usr/bin/env bash
set -euo pipefail
script=${@: -1}
counter="$(dirname "$0")/job-id"
id=$(( $(cat "$counter" 2>/dev/null || echo 1000) + 1 ))
echo "$id" >"$counter"
out=$(sed -n 's/^#SBATCH --output=//p' "$script" | head -n1)
out=${out//%j/$id}
mkdir -p "$(dirname "$out")"
SLURM_JOB_ID=$id bash "$script" >"$out" 2>&1 || true
echo "$id"
SH
printf '#!/bin/sh\nexit 0\n' >"$fake_bin/squeue"
chmod +x "$fake_bin/sbatch" "$fake_bin/squeue"

# Runs the config in $1 (a folder holding sweep.yaml) to its end; prints "runs gpu_hours".
run_to_end() {
  local dir=$1 submitted runs=0 gpus=0 launches=0
  mkdir -p "$dir/examples/inference"
  ln -sf "$repo/tests/fixtures/simulated_inference/generate_data.py" "$dir/examples/inference/generate_data.py"
  while :; do
    launches=$((launches + 1))
    submitted=$(cd "$dir" && PATH="$fake_bin:$PATH" SIMULATED_INFERENCE_SLEEP=0 \
      "$launch" --config sweep.yaml --json 2>/dev/null |
      python3 -c 'import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
done = [l for l in lines if l["decision"] == "submitted"]
print(len(done), sum(l["gpus"] for l in done))')
    read -r n g <<<"$submitted"
    [[ $n -eq 0 ]] && break
    runs=$((runs + n)); gpus=$((gpus + g))
  done
  (cd "$dir" && "$analyze" --root examples/inference/benchmark/results --quiet)
  python3 -c "print($runs, round($gpus * 119 / 60, 1), $launches)"
}

mkdir -p "$work/staged" "$work/grid"
cp "$repo/configs/staged_sample_config.yaml" "$work/staged/sweep.yaml"
sed -e '/max-num-seqs: \[256, 512, 1024, 2048, 4096\]/a\      max-num-batched-tokens: [8192, 16384, 32768]' \
    -e '/name: "tier0b-/,/^$/d' \
    -e 's/experiment: "tier0b-/experiment: "tier0-/' \
    "$repo/configs/staged_sample_config.yaml" >"$work/grid/sweep.yaml"

read -r staged_runs staged_hours staged_launches < <(run_to_end "$work/staged")
read -r grid_runs grid_hours grid_launches < <(run_to_end "$work/grid")

python3 - "$work" "$staged_runs" "$staged_hours" "$staged_launches" "$grid_runs" "$grid_hours" "$grid_launches" <<'PY'
import csv, sys
work, sr, sh, sl, gr, gh, gl = sys.argv[1:]
def best(kind):
    path = f"{work}/{kind}/examples/inference/benchmark/results/benchmarking_results.csv"
    out = {}
    for row in csv.DictReader(open(path)):
        if row["output_tps_per_gpu"]:
            tps = float(row["output_tps_per_gpu"])
            out[row["model"]] = max(out.get(row["model"], 0.0), tps)
    return out
staged, grid = best("staged"), best("grid")
print(f"{'model':40} {'grid best':>10} {'staged best':>12} {'staged/grid':>12}")
worst = 1.0
for model in sorted(grid):
    ratio = staged.get(model, 0.0) / grid[model]
    worst = min(worst, ratio)
    print(f"{model:40} {grid[model]:10.1f} {staged.get(model, 0.0):12.1f} {ratio:12.4f}")
print(f"grid:   {gr} runs, {gh} GPU-hours submitted, {gl} launches")
print(f"staged: {sr} runs, {sh} GPU-hours submitted, {sl} launches")
print(f"staged/grid: {int(sr) / int(gr):.2f} of the runs, {float(sh) / float(gh):.2f} of the GPU-hours; "
      f"worst model at {worst:.4f} of its grid best")
PY
