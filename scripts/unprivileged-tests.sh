#!/usr/bin/env bash
# The fast test suite (every test but the ignored cluster ones) as an unprivileged user, from
# the build `cargo test --workspace` already made: each test binary is run directly as that
# user, in its package's directory as cargo would, so nothing is built twice. Run it as root,
# after scripts/test.sh. The user is `nobody` unless BENCH_TEST_USER names another.
set -euo pipefail
cd "$(dirname "$0")/.."

user=${BENCH_TEST_USER:-nobody}
if [[ $(id -u) != 0 ]]; then
    echo "unprivileged-tests.sh: error: run as root (it switches to \`$user\`)" >&2
    exit 2
fi

# `package directory<TAB>test executable`, one line per test binary.
binaries=$(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, os, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("profile", {}).get("test") \
            and message.get("executable"):
        print(os.path.dirname(message["manifest_path"]) + "\t" + message["executable"])
')
if [[ -z $binaries ]]; then
    echo "unprivileged-tests.sh: error: cargo listed no test binaries" >&2
    exit 1
fi

failed=0
while IFS=$'\t' read -r dir executable; do
    echo "unprivileged-tests.sh: $executable (as $user, in $dir)" >&2
    if ! runuser -u "$user" -- env -C "$dir" HOME=/tmp PATH="$PATH" INSTA_WORKSPACE_ROOT="$PWD" "$executable"; then
        failed=$((failed + 1))
    fi
done <<<"$binaries"
if ((failed > 0)); then
    echo "unprivileged-tests.sh: error: $failed test binaries failed as \`$user\`" >&2
    exit 1
fi
