#!/usr/bin/env bash
# The tutorials' unmodified task_master.py / task_worker.py against
# weave's task_worker / task_master, for every CPython on the machine
# (python3 and pyenv's 3.8 to 3.13).
#   tutorial_pair.sh EXAMPLES_DIR TUTORIALS_DIR
set -u
ex=$1 tut=$2
pythons=()
command -v python3 >/dev/null && pythons+=(python3)
for minor in 8 9 10 11 12 13; do
    for p in "$HOME"/.pyenv/versions/3.$minor.*/bin/python3.$minor; do
        [ -x "$p" ] && pythons+=("$p") && break
    done
done
[ ${#pythons[@]} -gt 0 ] || { echo "no python3: skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Waits up to 30 s for a line matching $2 in file $1.
wait_for() { for _ in $(seq 300); do grep -q "$2" "$1" && return 0; sleep 0.1; done; return 1; }
fail=0
for py in "${pythons[@]}"; do
    # A Python master, weave's worker.
    port=$(free_port)
    MGR_PORT=$port MGR_SEED=7 "$py" "$tut/task_master.py" >"$tmp/m.out" 2>&1 &
    master=$!
    if wait_for "$tmp/m.out" READY &&
        MGR_PORT=$port WORKER_SLEEP=0 "$ex/task_worker" >"$tmp/w.out" 2>&1 &&
        wait $master && [ "$(grep -c '^Result: [0-9]* \* [0-9]* = [0-9]*$' "$tmp/m.out")" = 10 ]; then
        echo "$py task_master.py + weave task_worker: ok"
    else
        echo "$py task_master.py + weave task_worker: FAILED"; cat "$tmp/m.out" "$tmp/w.out"; fail=1
        kill $master 2>/dev/null; wait $master 2>/dev/null
    fi
    # weave's master, a Python worker.
    port=$(free_port)
    MGR_PORT=$port "$ex/task_master" >"$tmp/m.out" 2>&1 &
    master=$!
    if wait_for "$tmp/m.out" '^Try get results' &&
        MGR_PORT=$port WORKER_SLEEP=0 "$py" "$tut/task_worker.py" >"$tmp/w.out" 2>&1 &&
        wait $master && [ "$(grep -c '^run task' "$tmp/w.out")" = 10 ] &&
        grep -q '^master exit' "$tmp/m.out"; then
        echo "weave task_master + $py task_worker.py: ok"
    else
        echo "weave task_master + $py task_worker.py: FAILED"; cat "$tmp/m.out" "$tmp/w.out"; fail=1
        kill $master 2>/dev/null; wait $master 2>/dev/null
    fi
done
exit $fail
