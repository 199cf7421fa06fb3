#!/usr/bin/env bash
# The whole test suite, with everything it needs. Run it as root on a Debian machine:
#
#   bash scripts/test.sh
#
# It installs what is missing (Debian's slurmctld, slurmd, slurm-client and munge for the
# one-node test cluster, shellcheck, python3 and python3-venv, chromium for the report's
# browser test; the Python packages of the end-to-end test's stand-in inference script in a
# virtual environment under /var/tmp/bench-python), starts the cluster (scripts/local-slurm.sh up), and runs every test,
# the cluster tests that `cargo test` alone leaves ignored included, without stopping at the
# first failing test binary. Extra arguments go to the test binaries (e.g. a test name
# filter: `bash scripts/test.sh closed_stdout`).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) != 0 ]]; then
    echo "test.sh: error: run as root: it installs Debian packages and starts SLURM daemons" >&2
    echo "hint: without root, \`cargo test --workspace --locked\` runs the tests that need no cluster" >&2
    exit 2
fi

packages=(slurmctld slurmd slurm-client munge shellcheck python3 python3-venv chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$package")
done
if ((${#missing[@]} > 0)); then
    echo "test.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

# The stand-in inference script (tests/fixtures/stand_in_inference) runs datatrove's real
# inference runner with its DummyServer, without vLLM. A python3 that already has the packages
# is used as is; otherwise they go into a virtual environment (Debian's python3 refuses a
# system-wide pip install) whose bin/ comes first on PATH, for the tests and their jobs.
python_imports='import httpx, aiofiles, aiosqlite
from datatrove.pipeline.inference.run_inference import InferenceRunner
from datatrove.pipeline.inference.servers import DummyServer'
if ! python3 -c "$python_imports" 2>/dev/null; then
    venv=/var/tmp/bench-python
    [[ -x $venv/bin/python3 ]] || python3 -m venv "$venv"
    if ! "$venv/bin/python3" -c "$python_imports" 2>/dev/null; then
        echo "test.sh: pip install datatrove[io] 0.10.x, httpx, aiofiles and aiosqlite into $venv" >&2
        "$venv/bin/python3" -m pip install -q 'datatrove[io]>=0.10,<0.11' httpx aiofiles aiosqlite </dev/null
    fi
    export PATH="$venv/bin:$PATH"
fi
if ! python3 -c "$python_imports"; then
    echo "test.sh: error: python3 ($(command -v python3)) cannot import datatrove, httpx, aiofiles and aiosqlite" >&2
    exit 1
fi

echo "test.sh: starting the test cluster" >&2
if ! bash scripts/local-slurm.sh up </dev/null; then
    echo "test.sh: error: the one-node SLURM cluster did not start; the cluster tests cannot run" >&2
    bash scripts/local-slurm.sh status </dev/null >&2 || true
    for log in /var/tmp/bench-slurm/log/slurmctld.log /var/tmp/bench-slurm/log/slurmd.log; do
        if [[ -f $log ]]; then
            echo "--- last lines of $log" >&2
            tail -n 20 "$log" >&2
        fi
    done
    exit 1
fi

cargo test --workspace --locked --no-fail-fast -- --include-ignored "$@"
