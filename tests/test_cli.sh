#!/bin/sh
# tests/test_cli.sh WEAVE CASE - one end-to-end case of the weave command,
# driven as a user drives it: through pipes, in a pseudo-terminal
# (python3's pty module), with signals to its process group.  CTest runs
# each case as its own test (cli_CASE, label cli).  No sleep fixes a race:
# every wait is a bounded poll; the jobs' own sleeps only make them end
# out of order or still be running when the test acts.
set -u
W=$1
CASE=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/weave-cli.XXXXXX")
# Processes a case started in the background ($T/bg): killed at the end
# whatever happened, so that a failed case leaves nothing running.
cleanup() {
    if [ -f "$T/bg" ]; then
        while read -r p; do kill -9 "$p" 2>/dev/null; done <"$T/bg"
    fi
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL $CASE: $*" >&2
    exit 1
}
# expect_eq WHAT GOT WANT
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
}
# poll_until SECONDS COMMAND...: runs COMMAND every 20 ms until it succeeds
poll_until() {
    limit=$(($1 * 50))
    shift
    n=0
    until "$@"; do
        n=$((n + 1))
        [ $n -ge $limit ] && return 1
        sleep 0.02
    done
}
# all_gone FILE: no pid listed in FILE is alive
all_gone() {
    while read -r p; do
        kill -0 "$p" 2>/dev/null && return 1
    done <"$1"
    return 0
}
lines_at_least() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
# in_pty ARGS...: runs weave in a pseudo-terminal, its output in $T/pty
in_pty() {
    python3 - "$T/pty" "$W" "$@" <<'PY'
import os, pty, sys
out = open(sys.argv[1], "wb")
def read(fd):
    data = os.read(fd, 4096)
    out.write(data)
    return data
status = pty.spawn(sys.argv[2:], read)
out.close()
sys.exit(os.waitstatus_to_exitcode(status))
PY
}

bg() { echo "$1" >>"$T/bg"; }
# serve_start [ARGS...]: weave serve on a free port: $SPID, $ADDR
serve_start() {
    # Emptied here, not only by the background job's redirection, which
    # may come after the poll below has read an earlier serve's line.
    : >"$T/serve.out"
    "$W" serve --bind 127.0.0.1:0 "$@" >"$T/serve.out" 2>"$T/serve.err" &
    SPID=$!
    bg $SPID
    poll_until 10 grep -q 'listening on' "$T/serve.out" ||
        fail "serve did not start: $(cat "$T/serve.err")"
    ADDR=$(sed -n 's/^weave serve: listening on \([^ ]*\).*/\1/p' "$T/serve.out")
    PORT=${ADDR##*:}
}
serve_stop() {
    kill -TERM "$SPID"
    wait "$SPID"
    expect_eq "serve's exit status" $? 0
}
# status_has TEXT: weave status prints a line containing TEXT
status_has() { "$W" status "$ADDR" >"$T/status" 2>&1 && grep -q "$1" "$T/status"; }
gone() { ! kill -0 "$1" 2>/dev/null; }
# dead PID: gone, or a zombie nobody reaped yet (an orphan's, whose new
# parent may be slow to reap it)
dead() { gone "$1" || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
# lines_matching FILE REGEX N: at least N lines of FILE match REGEX
lines_matching() { [ "$(grep -c "$2" "$1")" -ge "$3" ]; }
# A job that waits until the test creates $T/go (polling: the job's own
# wait, no race in the test), writing its shell's pid to $T/pid.ID first.
HOLD='echo $$ >'"$T"'/pid.{}; while [ ! -e '"$T"'/go ]; do sleep 0.02; done; echo done {}'
export WEAVE_AUTHKEY=weave-test-key
# redis_start [ARGS...]: a redis-server of the case's own, on a free
# loopback port, its data in $T/redis (AOF on, fsync always: a restart
# keeps the queues), with the password $REDIS_PW: $RPID, $RPORT, $RURL
# (no password in it: it comes from WEAVE_REDIS_PASSWORD).  Exits 0 with
# SKIP if redis-server is not installed.
REDIS_PW=weave-redis-pw
redis_spawn() {
    redis-server --bind 127.0.0.1 --port "$RPORT" --dir "$T/redis" \
        --save '' --appendonly yes --appendfsync always --daemonize no \
        --logfile '' --loglevel warning --requirepass "$REDIS_PW" \
        >"$T/redis.log" 2>&1 &
    RPID=$!
    bg $RPID
}
redis_up() { "$W" status --redis "$RURL" --connect-timeout 1 >/dev/null 2>&1; }
redis_start() {
    command -v redis-server >/dev/null ||
        { echo "SKIP: no redis-server (Debian's redis-server package)"; exit 0; }
    mkdir -p "$T/redis"
    for attempt in 1 2 3 4 5; do
        # a free port now; it may be taken before redis binds it: retry
        RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        RURL=redis://127.0.0.1:$RPORT/0
        redis_spawn
        poll_until 10 redis_up && return 0
        kill -9 $RPID 2>/dev/null
        wait $RPID 2>/dev/null
    done
    fail "redis-server did not start: $(cat "$T/redis.log")"
}
# rstatus_has TEXT: weave status --redis prints a line containing TEXT
rstatus_has() { "$W" status --redis "$RURL" >"$T/status" 2>&1 && grep -q "$1" "$T/status"; }
# redis_cmd ARGS...: one command to the case's redis-server (RESP over a
# socket: redis-cli may be missing), its reply on stdout as Python prints it
redis_cmd() {
    python3 - "$RPORT" "$REDIS_PW" "$@" <<'PY'
import socket, sys
def enc(*a):
    out = b'*%d\r\n' % len(a)
    for x in a:
        x = x.encode()
        out += b'$%d\r\n%s\r\n' % (len(x), x)
    return out
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
f = s.makefile('rb')
def read():
    line = f.readline()[:-2]
    t, rest = line[:1], line[1:]
    if t == b'$':
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if t == b'*':
        return [read() for _ in range(int(rest))]
    return int(rest) if t == b':' else rest
s.sendall(enc('AUTH', sys.argv[2]) + enc(*sys.argv[3:]))
read()
print(read())
PY
}
export WEAVE_REDIS_PASSWORD=$REDIS_PW
unset REDISCLI_AUTH

case $CASE in
pipe_plain)
    out=$("$W" map echo ::: a b c 2>"$T/err" | sort | tr '\n' ' ')
    expect_eq "rc" $? 0
    expect_eq "stdout" "$out" "a b c "
    [ -s "$T/err" ] && fail "stderr is not empty through a pipe: $(cat "$T/err")"
    ;;
pty_status_line)
    in_pty map -j2 'sleep 0.4' ::: 1 2 3 4 || fail "rc $?"
    grep -q 'weave map: [0-4]/4 done, 0 failed' "$T/pty" || fail "no status line: $(od -c "$T/pty" | head)"
    # erased at the end: the last bytes are "\r", ESC "[K"
    last=$(tail -c 4 "$T/pty" | od -An -c | tr -d ' ')
    expect_eq "last bytes" "$last" '\r033[K'
    ;;
pty_bar)
    in_pty map --bar -j2 'sleep 0.4' ::: 1 2 3 4 || fail "rc $?"
    grep -q '\] *[0-9]*% [0-4]/4 ETA' "$T/pty" || fail "no bar: $(od -c "$T/pty" | head)"
    last=$(tail -c 4 "$T/pty" | od -An -c | tr -d ' ')
    expect_eq "last bytes" "$last" '\r033[K'
    ;;
progress_forced)
    "$W" map --progress 'sleep 0.3' ::: 1 2>"$T/err" || fail "rc $?"
    grep -q '1/1 done\|0/1 done' "$T/err" || fail "no status line with --progress"
    ;;
keep_order)
    out=$("$W" map -k -j3 'sleep {}; echo {}' ::: 0.6 0.1 0.3 | tr '\n' ' ')
    expect_eq "order" "$out" "0.6 0.1 0.3 "
    ;;
as_they_end)
    # without -k, each output as its job ends; 0.9 s apart, no race
    out=$("$W" map -j2 'sleep {}; echo {}' ::: 1.0 0.1 | tr '\n' ' ')
    expect_eq "order" "$out" "0.1 1.0 "
    ;;
never_interleaved)
    "$W" map -j4 'for i in $(seq 2000); do echo {}; done' ::: 1 2 3 4 >"$T/out"
    runs=$(uniq "$T/out" | wc -l)
    expect_eq "runs of lines" "$runs" 4
    expect_eq "lines" "$(wc -l <"$T/out")" 8000
    ;;
timeout_kills_group)
    start=$(date +%s)
    "$W" map --timeout 0.3 --joblog "$T/log" \
        'sleep 30 & echo $! >'"$T/pids"'; echo $$ >>'"$T/pids"'; wait; : {}' ::: x
    rc=$?
    expect_eq "rc" $rc 1
    poll_until 5 all_gone "$T/pids" || fail "a process of the job's group survived"
    [ $(($(date +%s) - start)) -lt 10 ] || fail "too slow"
    expect_eq "signal" "$(tail -1 "$T/log" | cut -f8)" 15
    ;;
sigint)
    setsid "$W" map -j2 'echo $$ >>'"$T/pids"'; sleep 30' ::: 1 2 3 4 \
        >"$T/out" 2>"$T/err" &
    wpid=$!
    poll_until 10 lines_at_least "$T/pids" 2 || fail "jobs did not start"
    kill -INT -"$wpid"
    wait "$wpid"
    expect_eq "rc" $? 130
    grep -q '^weave map: interrupted: 2 of 4 jobs ended, 0 failed, 2 killed, 2 not started$' "$T/err" ||
        fail "summary: $(cat "$T/err")"
    poll_until 5 all_gone "$T/pids" || fail "a job is left running"
    ;;
closed_stdout)
    # The reader leaves after one line: at its next write weave stops as
    # after a signal (the slow first job is stopped too) rather than die
    # by SIGPIPE and leave its jobs running in their groups.
    ( { echo slow; seq 1 100; } |
        "$W" map -j2 'echo $$ >>'"$T/pids"'; [ {} = slow ] && sleep 30; echo {}; sleep 0.02' \
        2>"$T/err"; echo $? >"$T/rc" ) | head -1 >"$T/out"
    poll_until 20 test -s "$T/rc" || fail "weave did not end"
    expect_eq "rc" "$(cat "$T/rc")" 141
    grep -qx '[0-9][0-9]*' "$T/out" || fail "first line: $(cat "$T/out")"
    [ "$(wc -l <"$T/pids")" -lt 101 ] || fail "every job ran"
    poll_until 5 all_gone "$T/pids" || fail "a job is left running"
    ;;
retries)
    "$W" map --retries 2 'echo x >>'"$T/tries"'; exit 1; : {}' ::: a
    expect_eq "rc" $? 1
    expect_eq "runs" "$(wc -l <"$T/tries")" 3
    "$W" map --retries 5 'echo x >>'"$T/t2"'; [ $(wc -l <'"$T/t2"') -ge 2 ] && : {}' ::: a
    expect_eq "rc after success on the 2nd run" $? 0
    expect_eq "runs" "$(wc -l <"$T/t2")" 2
    ;;
halt_now)
    start=$(date +%s)
    "$W" map -j2 --halt now,fail=1 \
        'if [ {} = 1 ]; then exit 1; fi; echo $$ >>'"$T/pids"'; sleep 30' \
        ::: 2 1 3 4 2>"$T/err"
    expect_eq "rc" $? 1
    grep -q 'halted: 2 of 4 jobs ended, 1 failed, 1 killed, 2 not started' "$T/err" ||
        fail "summary: $(cat "$T/err")"
    poll_until 5 all_gone "$T/pids" || fail "a job is left running"
    [ $(($(date +%s) - start)) -lt 10 ] || fail "too slow"
    ;;
halt_soon)
    "$W" map -j1 --halt soon,fail=2 --joblog "$T/log" 'exit 1' ::: 1 2 3 4 2>"$T/err"
    expect_eq "rc" $? 2
    expect_eq "joblog lines" "$(wc -l <"$T/log")" 3
    ;;
joblog)
    "$W" map -k --joblog "$T/log" 'echo {}; exit {}' ::: 0 3
    expect_eq "rc" $? 1
    expect_eq "header" "$(head -1 "$T/log")" "$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')"
    line=$(grep "^2	" "$T/log")
    expect_eq "fields" "$(echo "$line" | awk -F'\t' '{print NF}')" 9
    expect_eq "host send receive exit signal" \
        "$(echo "$line" | cut -f2,5-8 | tr '\t' ' ')" ": 0 2 3 0"
    expect_eq "command" "$(echo "$line" | cut -f9)" "echo '3'; exit '3'"
    echo "$line" | cut -f3 | grep -Eq '^[0-9]{10}\.[0-9]{3}$' || fail "start: $line"
    ;;
dry_run)
    out=$("$W" map --dry-run 'touch '"$T"'/x{}' ::: 1 2)
    expect_eq "rc" $? 0
    expect_eq "commands" "$out" "$(printf "touch $T/x'1'\ntouch $T/x'2'")"
    [ -e "$T/x1" ] && fail "--dry-run ran a job"
    out=$("$W" map --dry-run echo ::: "it's")
    expect_eq "quoted" "$out" "echo 'it'\\''s'"
    ;;
replacements)
    out=$(printf 'd.x/a.tar.gz\nb\n.rc\n' | "$W" map -k echo '{}:{.}:{/}:{#}' 2>&1)
    expect_eq "replacements" "$out" "$(printf 'd.x/a.tar.gz:d.x/a.tar:a.tar.gz:1\nb:b:b:2\n.rc::.rc:3')"
    # direct exec: an input with spaces and quotes stays one argument
    (cd "$T" && "$W" map touch ::: "a b" "it's") || fail "touch rc"
    [ -e "$T/a b" ] && [ -e "$T/it's" ] || fail "an input was split: $(ls "$T")"
    ;;
null_separated)
    out=$(printf 'a b\0c\nd\0' | "$W" map -0 -k "printf '<%s>' {}")
    expect_eq "inputs" "$out" "$(printf '<a b><c\nd>')"
    ;;
arg_file)
    printf '1\n2\n3' >"$T/in"
    out=$("$W" map -k -a "$T/in" echo)
    expect_eq "inputs" "$out" "$(printf '1\n2\n3')"
    ;;
exit_counts)
    "$W" map 'exit {}' ::: 0 1 2 0 5
    expect_eq "rc" $? 3
    seq 102 | "$W" map -j2 false
    expect_eq "rc capped" $? 101
    "$W" map nosuchprogram-weave ::: 1 2>"$T/err"
    expect_eq "rc" $? 1
    expect_eq "message" "$(cat "$T/err")" "weave map: nosuchprogram-weave: no such file or directory"
    ;;
child_fds)
    out=$("$W" map ls ::: /proc/self/fd | tr '\n' ' ')
    expect_eq "the job's descriptors" "$out" "0 1 2 3 "
    ;;
bad_usage)
    "$W" map --bogus echo 2>"$T/err"
    expect_eq "unknown option rc" $? 255
    expect_eq "message" "$(cat "$T/err")" "weave map: unknown option '--bogus' (weave map --help)"
    "$W" map ::: a 2>"$T/err"
    expect_eq "missing command rc" $? 255
    expect_eq "lines" "$(wc -l <"$T/err")" 1
    "$W" map -j 0 echo ::: a 2>"$T/err"
    expect_eq "-j 0 rc" $? 255
    "$W" map --halt now,fail=10% echo ::: a 2>"$T/err"
    expect_eq "--halt percentage rc" $? 255
    "$W" bogus 2>"$T/err"
    expect_eq "unknown command rc" $? 255
    ;;
unreadable_input)
    "$W" map -a "$T/missing" echo 2>"$T/err"
    expect_eq "rc" $? 254
    expect_eq "message" "$(cat "$T/err")" "weave map: cannot read $T/missing: No such file or directory"
    "$W" map -a "$T" echo 2>"$T/err"
    expect_eq "a directory rc" $? 254
    "$W" map --joblog "$T/no/such/log" echo ::: a 2>"$T/err"
    expect_eq "joblog rc" $? 254
    ;;
help)
    "$W" --help | grep -q '^  map ' || fail "--help"
    "$W" --version | grep -q '^weave [0-9]' || fail "--version"
    for c in map serve submit worker status; do
        "$W" $c --help >"$T/out" || fail "$c --help rc"
        grep -q '^exit status:' "$T/out" || fail "$c --help: no exit statuses"
        "$W" --help | grep -q "^  $c " || fail "--help lacks $c"
    done
    ;;
serve_submit_worker)
    serve_start
    "$W" worker -j2 --max-jobs 7 "$ADDR" 2>"$T/werr" &
    wpid=$!
    bg $wpid
    "$W" submit --connect "$ADDR" --wait \
        'echo out {}; echo err {} >&2; exit {}' ::: 0 3 0 0 >"$T/out" 2>"$T/err"
    expect_eq "submit --wait rc (one failed)" $? 1
    expect_eq "stdout" "$(sort "$T/out" | tr '\n' ' ')" "out 0 out 0 out 0 out 3 "
    expect_eq "stderr" "$(sort "$T/err" | tr '\n' ' ')" "err 0 err 0 err 0 err 3 "
    # map's input forms: -0 on stdin, the replacements quoted; -a FILE
    # with the input appended
    out=$(printf "d.x/a.tar.gz\0it's\0" |
        "$W" submit --connect "$ADDR" -0 --wait 'echo {.}:{/}:{#}' | sort | tr '\n' ' ')
    expect_eq "-0 and replacements" "$out" "d.x/a.tar:a.tar.gz:1 it's:it's:2 "
    printf 'x y\n' >"$T/in"
    out=$("$W" submit --connect "$ADDR" -a "$T/in" --wait "printf '<%s>'")
    expect_eq "-a, the input appended as one word" "$out" "<x y>"
    wait $wpid
    expect_eq "worker rc after --max-jobs" $? 0
    "$W" submit --connect "$ADDR" 'true' ::: a b
    expect_eq "submit without --wait" $? 0
    status_has 'get_task_queue: 2 queued' || fail "status: $(cat "$T/status")"
    "$W" worker --once "$ADDR" 2>/dev/null || fail "a worker --once"
    status_has 'get_task_queue: 1 queued' || fail "--once took more: $(cat "$T/status")"
    "$W" worker --max-jobs 1 "$ADDR" 2>/dev/null || fail "another worker"
    start=$(date +%s)
    "$W" worker --idle-exit 0.3 "$ADDR" 2>/dev/null || fail "--idle-exit rc"
    [ $(($(date +%s) - start)) -lt 5 ] || fail "--idle-exit too slow"
    serve_stop
    ;;
two_submitters)
    # Two submit --wait on one result queue: each prints its own results
    # (the other's are put back), each once.
    serve_start
    "$W" worker -j2 --max-jobs 8 "$ADDR" 2>/dev/null &
    wpid=$!
    bg $wpid
    "$W" submit --connect "$ADDR" --wait --wait-timeout 30 'echo a{}' ::: 1 2 3 4 >"$T/a" &
    apid=$!
    bg $apid
    "$W" submit --connect "$ADDR" --wait --wait-timeout 30 'echo b{}' ::: 1 2 3 4 >"$T/b"
    expect_eq "b rc" $? 0
    wait $apid
    expect_eq "a rc" $? 0
    expect_eq "a's" "$(sort "$T/a" | tr '\n' ' ')" "a1 a2 a3 a4 "
    expect_eq "b's" "$(sort "$T/b" | tr '\n' ' ')" "b1 b2 b3 b4 "
    wait $wpid || fail "worker rc"
    serve_stop
    ;;
status)
    serve_start
    "$W" submit --connect "$ADDR" "$HOLD; exit {}" ::: 0 5 0 || fail "submit"
    status_has 'get_task_queue: 3 queued, 0 leased, 3 put' || fail "$(cat "$T/status")"
    "$W" worker -j1 --max-jobs 3 "$ADDR" 2>/dev/null &
    wpid=$!
    bg $wpid
    poll_until 10 status_has 'get_task_queue: 2 queued, 1 leased' ||
        fail "no lease seen: $(cat "$T/status")"
    # 1 client, the worker (status's own not counted; an earlier status's
    # connection may take a moment to be seen closed by the server)
    poll_until 10 status_has '^weave serve at 127.0.0.1:[0-9]*, up [0-9.]* s, 1 client$' ||
        fail "header: $(cat "$T/status")"
    touch "$T/go"
    wait $wpid
    expect_eq "worker rc" $? 0
    status_has 'get_task_queue: 0 queued, 0 leased, 3 put, 3 taken, 3 acked, 0 redelivered' ||
        fail "after: $(cat "$T/status")"
    grep -q '^get_result_queue: 3 queued' "$T/status" || fail "results: $(cat "$T/status")"
    grep -q '^jobs: 3 done, 1 failed, [0-9.]* done/s, [0-9.]*/s in the last minute$' "$T/status" || fail "jobs: $(cat "$T/status")"
    serve_stop
    ;;
worker_killed_midjob)
    serve_start
    "$W" submit --connect "$ADDR" --wait "$HOLD" ::: 1 2 >"$T/out" 2>"$T/err" &
    spid=$!
    bg $spid
    "$W" worker -j2 "$ADDR" 2>/dev/null &
    w1=$!
    bg $w1
    poll_until 10 test -s "$T/pid.1" -a -s "$T/pid.2" || fail "jobs did not start"
    kill -KILL $w1
    # Its jobs' shells get SIGKILL as it dies (the death signal): none
    # runs on beside the worker that redoes its task.
    poll_until 10 dead "$(cat "$T/pid.1")" || fail "job 1 outlived its worker"
    poll_until 10 dead "$(cat "$T/pid.2")" || fail "job 2 outlived its worker"
    # (what the shells had started, a sleep of 20 ms, may still be there)
    kill -KILL -"$(cat "$T/pid.1")" -"$(cat "$T/pid.2")" 2>/dev/null
    rm -f "$T/pid.1" "$T/pid.2"
    poll_until 10 status_has 'get_task_queue: 2 queued, 0 leased, 2 put, 2 taken, 0 acked, 2 redelivered' ||
        fail "not handed back: $(cat "$T/status")"
    touch "$T/go"
    "$W" worker -j2 --max-jobs 2 "$ADDR" 2>/dev/null || fail "second worker"
    wait $spid
    expect_eq "submit rc" $? 0
    expect_eq "each result once" "$(sort "$T/out" | tr '\n' ' ')" "done 1 done 2 "
    status_has 'get_task_queue: 0 queued, 0 leased, 2 put, 4 taken, 2 acked' ||
        fail "after: $(cat "$T/status")"
    serve_stop
    ;;
worker_reconnects)
    serve_start
    "$W" worker -j1 "$ADDR" 2>"$T/werr" &
    wpid=$!
    bg $wpid
    poll_until 10 grep -q connected "$T/werr" || fail "worker did not connect"
    serve_stop
    poll_until 10 grep -q 'lost' "$T/werr" || fail "no loss reported: $(cat "$T/werr")"
    "$W" serve --bind "$ADDR" >"$T/serve.out" 2>"$T/serve.err" &
    SPID=$!
    bg $SPID
    poll_until 20 lines_matching "$T/werr" '^weave worker: connected' 2 ||
        fail "did not reconnect: $(cat "$T/werr")"
    out=$("$W" submit --connect "$ADDR" --wait --wait-timeout 20 'echo again' ::: x)
    expect_eq "rc" $? 0
    expect_eq "output (the input appended)" "$out" "again x"
    kill -TERM $wpid
    wait $wpid
    expect_eq "worker rc" $? 0
    serve_stop
    ;;
worker_renews_leases)
    # A job that outlasts its 1 s lease keeps it: the worker renews it
    # every third of a second.  Meanwhile a Python client waits on the
    # task queue for 2.5 s: a lease that expired would go to it.
    serve_start
    "$W" submit --connect "$ADDR" --wait "$HOLD" ::: 1 >"$T/out" 2>"$T/err" &
    spid=$!
    bg $spid
    "$W" worker -j1 --lease 1 "$ADDR" 2>"$T/werr" &
    wpid=$!
    bg $wpid
    poll_until 10 test -s "$T/pid.1" || fail "the job did not start"
    python3 - "$PORT" >"$T/py" 2>&1 <<'PY' || fail "python: $(cat "$T/py")"
import os, queue, sys
from multiprocessing.managers import BaseManager
class M(BaseManager): pass
M.register('get_task_queue')
m = M(address=('127.0.0.1', int(sys.argv[1])), authkey=os.environb[b'WEAVE_AUTHKEY'])
m.connect()
try:
    t = m.get_task_queue().get(timeout=2.5)
    print('the leased task came back:', t)
    sys.exit(1)
except queue.Empty:
    print('ok')
PY
    status_has '1 leased, 1 put, 1 taken, 0 acked, 0 redelivered' ||
        fail "$(cat "$T/status")"
    grep -q 'redelivered, [3-9][0-9]* renewed\|redelivered, [1-9][0-9][0-9]* renewed' "$T/status" ||
        fail "too few renewals: $(cat "$T/status")"
    touch "$T/go"
    wait $spid
    expect_eq "submit rc" $? 0
    expect_eq "one result" "$(cat "$T/out")" "done 1"
    kill -TERM $wpid
    wait $wpid
    expect_eq "worker rc" $? 0
    grep -q 'may run twice' "$T/werr" && fail "a lease expired: $(cat "$T/werr")"
    serve_stop
    ;;
worker_sigterm_hands_back)
    serve_start
    "$W" submit --connect "$ADDR" "$HOLD" ::: 1 || fail "submit"
    "$W" worker -j1 "$ADDR" 2>"$T/werr" &
    wpid=$!
    bg $wpid
    poll_until 10 test -s "$T/pid.1" || fail "job did not start"
    kill -TERM $wpid
    wait $wpid
    expect_eq "worker rc" $? 0
    poll_until 5 gone "$(cat "$T/pid.1")" || fail "the job outlived its worker"
    grep -q 'SIGTERM: stopping, 1 running jobs handed back' "$T/werr" || fail "$(cat "$T/werr")"
    poll_until 10 status_has 'get_task_queue: 1 queued, 0 leased' || fail "$(cat "$T/status")"
    serve_stop
    ;;
serve_signals)
    for sig in INT TERM; do
        serve_start
        kill -$sig $SPID
        wait $SPID
        expect_eq "rc after SIG$sig" $? 0
        grep -q "SIG$sig: stopping" "$T/serve.err" || fail "$(cat "$T/serve.err")"
        "$W" status --connect-timeout 1 "$ADDR" 2>/dev/null
        expect_eq "nobody listens after SIG$sig" $? 69
    done
    ;;
python_master)
    # A Python program (BaseManager client) feeds weave serve: a str task
    # and a dict task; a weave worker runs them; Python reads the dicts.
    serve_start
    "$W" worker -j4 --max-jobs 4 --timeout 1 "$ADDR" 2>/dev/null &
    wpid=$!
    bg $wpid
    python3 - "$PORT" >"$T/py" 2>&1 <<'PY' || fail "python: $(cat "$T/py")"
import os, sys
from multiprocessing.managers import BaseManager
class M(BaseManager): pass
M.register('get_task_queue'); M.register('get_result_queue')
m = M(address=('127.0.0.1', int(sys.argv[1])), authkey=os.environb[b'WEAVE_AUTHKEY'])
m.connect()
task, result = m.get_task_queue(), m.get_result_queue()
task.put('echo from a str')
task.put({'id': 7, 'cmd': 'echo oops >&2; exit 3', 'mine': [1, 2]})
task.put({'id': 8, 'cmd': 'sleep 30'})
task.put(42)
got = sorted((result.get(timeout=20) for _ in range(4)), key=lambda r: str(r['cmd']))
n, a, b, c = got
assert n['cmd'] == 42 and n['exit'] == 2 and b"a task is a str" in n['stderr'], n
assert c['id'] == 8 and c['timed_out'] is True and c['signal'] == 15, c
assert c['exit'] is None and 0.9 < c['time'] < 5, c
assert a['id'] is None and a['exit'] == 0 and a['signal'] is None, a
assert a['stdout'] == b'from a str\n' and a['stderr'] == b'', a
assert b['id'] == 7 and b['exit'] == 3 and b['stderr'] == b'oops\n', b
assert b['mine'] == [1, 2] and isinstance(b['time'], float), b
print('ok')
PY
    wait $wpid
    expect_eq "worker rc" $? 0
    serve_stop
    ;;
python_server)
    # A task_master.py-style Python server: a weave worker serves its
    # queues with plain gets (no leases there).
    python3 - "$T/port" >"$T/py" 2>&1 <<'PY' &
import os, queue, sys
from multiprocessing.managers import BaseManager
tq, rq = queue.Queue(), queue.Queue()
class M(BaseManager): pass
M.register('get_task_queue', callable=lambda: tq)
M.register('get_result_queue', callable=lambda: rq)
m = M(address=('127.0.0.1', 0), authkey=os.environb[b'WEAVE_AUTHKEY'])
m.start()
task, result = m.get_task_queue(), m.get_result_queue()
for i in range(3):
    task.put('echo task %d' % i)
open(sys.argv[1] + '.tmp', 'w').write(str(m.address[1]))
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
outs = sorted(result.get(timeout=20)['stdout'] for _ in range(3))
assert outs == [b'task 0\n', b'task 1\n', b'task 2\n'], outs
print('ok')
m.shutdown()
PY
    ppid=$!
    bg $ppid
    poll_until 20 test -s "$T/port" || fail "python server: $(cat "$T/py")"
    "$W" worker -j2 --max-jobs 3 "127.0.0.1:$(cat "$T/port")" 2>"$T/werr"
    expect_eq "worker rc" $? 0
    wait $ppid
    expect_eq "python rc" $? 0
    grep -qx ok "$T/py" || fail "python: $(cat "$T/py")"
    ;;
python_worker)
    # A task_worker.py-style Python worker and a weave worker on the same
    # weave serve queues; submit --wait gets every result, once: the
    # Python worker puts its first result twice (as a worker killed
    # between its put and its ack would have it), and a result of no
    # batch of submit's waits in the queue first, to be put back.
    serve_start
    python3 - "$PORT" <<'PY' || fail "python put"
import os, sys
from multiprocessing.managers import BaseManager
class M(BaseManager): pass
M.register('get_result_queue')
m = M(address=('127.0.0.1', int(sys.argv[1])), authkey=os.environb[b'WEAVE_AUTHKEY'])
m.connect()
m.get_result_queue().put({'id': 1, 'cmd': 'foreign', 'stdout': b'not mine\n'})
PY
    "$W" submit --connect "$ADDR" --wait --wait-timeout 30 'echo {}' ::: 1 2 3 4 5 6 \
        >"$T/out" 2>"$T/err" &
    spid=$!
    bg $spid
    python3 - "$PORT" >"$T/py" 2>&1 <<'PY' || fail "python: $(cat "$T/py")"
import os, socket, subprocess, sys, time
from multiprocessing.managers import BaseManager
class M(BaseManager): pass
M.register('get_task_queue'); M.register('get_result_queue')
m = M(address=('127.0.0.1', int(sys.argv[1])), authkey=os.environb[b'WEAVE_AUTHKEY'])
m.connect()
task, result = m.get_task_queue(), m.get_result_queue()
first_id = None
for _ in range(2):
    t = task.get(timeout=20)
    first_id = t['id'] if first_id is None else first_id
    t0 = time.time()
    p = subprocess.run(['/bin/sh', '-c', t['cmd']], capture_output=True)
    r = dict(t)
    r.update(exit=p.returncode, signal=None, time=time.time() - t0,
             stdout=p.stdout, stderr=p.stderr, host=socket.gethostname(),
             worker='python')
    result.put(r)
    if t['id'] == first_id:
        result.put(r)
print('did 2')
PY
    "$W" worker -j2 --max-jobs 4 "$ADDR" 2>/dev/null || fail "weave worker"
    wait $spid
    expect_eq "submit rc" $? 0
    expect_eq "results, each once" "$(sort "$T/out" | tr '\n' ' ')" "1 2 3 4 5 6 "
    status_has '^get_result_queue: 1 queued' || fail "the foreign result: $(cat "$T/status")"
    serve_stop
    ;;
tls)
    command -v openssl >/dev/null || { echo "SKIP: no openssl"; exit 0; }
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" \
        -out "$T/cert.pem" -days 1 -subj /CN=localhost \
        -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null || fail "openssl"
    serve_start --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
    grep -q 'with TLS' "$T/serve.out" || fail "$(cat "$T/serve.out")"
    "$W" worker --tls-ca "$T/cert.pem" --max-jobs 1 "$ADDR" 2>/dev/null &
    wpid=$!
    bg $wpid
    out=$("$W" submit --tls-ca "$T/cert.pem" --connect "$ADDR" --wait 'echo {}' ::: secure)
    expect_eq "rc" $? 0
    expect_eq "output" "$out" "secure"
    wait $wpid || fail "worker rc"
    "$W" status --tls "$ADDR" 2>"$T/err"
    expect_eq "an unverified certificate: rc" $? 76
    grep -q 'TLS certificate' "$T/err" || fail "$(cat "$T/err")"
    "$W" status --connect-timeout 1 "$ADDR" 2>/dev/null
    expect_eq "plain TCP to a TLS port: rc" $? 69
    serve_stop
    ;;
errors)
    serve_start
    WEAVE_AUTHKEY=wrong "$W" worker "$ADDR" 2>"$T/err"
    expect_eq "wrong key: worker rc" $? 77
    expect_eq "message" "$(cat "$T/err")" "weave worker: $ADDR refused the authkey"
    WEAVE_AUTHKEY=wrong "$W" submit --connect "$ADDR" true ::: a 2>"$T/err"
    expect_eq "wrong key: submit rc" $? 77
    WEAVE_AUTHKEY=wrong "$W" status "$ADDR" 2>"$T/err"
    expect_eq "wrong key: status rc" $? 77
    "$W" worker --task-queue nosuch "$ADDR" 2>"$T/err"
    expect_eq "no such queue rc" $? 76
    expect_eq "message" "$(cat "$T/err")" "weave worker: $ADDR serves no nosuch"
    serve_stop
    # Nobody listens on the port serve had: refused, within the deadline.
    start=$(date +%s)
    "$W" worker --connect-timeout 1 "$ADDR" 2>"$T/err"
    expect_eq "unreachable rc" $? 69
    [ $(($(date +%s) - start)) -lt 5 ] || fail "too slow"
    expect_eq "message" "$(cat "$T/err")" "weave worker: cannot reach $ADDR: connection refused"
    "$W" submit --connect "$ADDR" --connect-timeout 1 true ::: a 2>"$T/err"
    expect_eq "unreachable: submit rc" $? 69
    # The key on the command line is refused; no key at all too.
    "$W" worker --authkey abc "$ADDR" 2>"$T/err"
    expect_eq "--authkey rc" $? 255
    grep -q 'refused: a key on the command line' "$T/err" || fail "$(cat "$T/err")"
    env -u WEAVE_AUTHKEY "$W" status "$ADDR" 2>"$T/err"
    expect_eq "no key rc" $? 255
    "$W" serve --authkey-file "$T/missing" 2>"$T/err"
    expect_eq "unreadable key file rc" $? 254
    printf 'weave-test-key\n' >"$T/key"
    chmod 644 "$T/key"
    env -u WEAVE_AUTHKEY "$W" status --authkey-file "$T/key" "$ADDR" 2>"$T/err"
    grep -q "warning: $T/key can be read by other users" "$T/err" || fail "no warning: $(cat "$T/err")"
    chmod 600 "$T/key"
    : >"$T/serve.out"
    env -u WEAVE_AUTHKEY "$W" serve --bind 127.0.0.1:0 --authkey-file "$T/key" >"$T/serve.out" &
    SPID=$!
    bg $SPID
    poll_until 10 grep -q 'listening on' "$T/serve.out" || fail "serve with a key file"
    ADDR=$(sed -n 's/^weave serve: listening on \([^ ]*\).*/\1/p' "$T/serve.out")
    "$W" status "$ADDR" >/dev/null || fail "the file's key (newline dropped) is the environment's"
    serve_stop
    ;;
redis_submit_worker)
    # submit --wait and two workers over --redis: every result once, the
    # exit status counting the failures; the queues empty after.
    redis_start
    "$W" worker --redis "$RURL" -j2 --max-jobs 3 2>"$T/w1" &
    w1=$!
    bg $w1
    "$W" worker --redis "$RURL" -j2 --max-jobs 3 2>"$T/w2" &
    w2=$!
    bg $w2
    "$W" submit --redis "$RURL" --wait --wait-timeout 30 \
        'echo out {}; echo err {} >&2; test {} -gt 4' ::: 1 2 3 4 5 6 \
        >"$T/out" 2>"$T/err"
    expect_eq "submit rc (4 failed)" $? 4
    expect_eq "stdout" "$(sort "$T/out" | tr '\n' ' ')" "out 1 out 2 out 3 out 4 out 5 out 6 "
    expect_eq "stderr" "$(sort "$T/err" | tr '\n' ' ')" "err 1 err 2 err 3 err 4 err 5 err 6 "
    wait $w1
    expect_eq "worker 1 rc" $? 0
    wait $w2
    expect_eq "worker 2 rc" $? 0
    grep -q "connected to $RURL\$" "$T/w1" || fail "worker: $(cat "$T/w1")"
    rstatus_has '^get_task_queue: 0 queued' || fail "$(cat "$T/status")"
    grep -q '^get_result_queue: 0 queued' "$T/status" || fail "$(cat "$T/status")"
    # a prefix of its own: other streams, nothing there
    "$W" submit --redis "$RURL" --redis-prefix other true ::: a || fail "submit --redis-prefix"
    rstatus_has '^get_task_queue: 0 queued' || fail "prefix ignored: $(cat "$T/status")"
    "$W" status --redis "$RURL" --redis-prefix other >"$T/status" 2>&1
    grep -q '^get_task_queue: 1 queued' "$T/status" || fail "--redis-prefix: $(cat "$T/status")"
    ;;
redis_worker_killed)
    # A worker SIGKILLed mid-job over Redis: its leases stay pending in
    # Redis until idle for --lease; a second worker then redoes both
    # tasks; submit --wait prints each result once.
    redis_start
    "$W" submit --redis "$RURL" --wait --wait-timeout 40 "$HOLD" ::: 1 2 \
        >"$T/out" 2>"$T/err" &
    spid=$!
    bg $spid
    "$W" worker --redis "$RURL" -j2 --lease 1 2>/dev/null &
    w1=$!
    bg $w1
    poll_until 10 test -s "$T/pid.1" -a -s "$T/pid.2" || fail "jobs did not start"
    kill -KILL $w1
    poll_until 10 dead "$(cat "$T/pid.1")" || fail "job 1 outlived its worker"
    poll_until 10 dead "$(cat "$T/pid.2")" || fail "job 2 outlived its worker"
    kill -KILL -"$(cat "$T/pid.1")" -"$(cat "$T/pid.2")" 2>/dev/null
    rm -f "$T/pid.1" "$T/pid.2"
    # leased, not queued: the dead worker's leases are pending in Redis
    rstatus_has '^get_task_queue: 0 queued' || fail "$(cat "$T/status")"
    "$W" worker --redis "$RURL" -j2 --lease 1 --max-jobs 2 2>"$T/w2" &
    w2=$!
    bg $w2
    poll_until 20 test -s "$T/pid.1" -a -s "$T/pid.2" ||
        fail "the second worker did not redo the tasks: $(cat "$T/w2")"
    touch "$T/go"
    wait $w2
    expect_eq "second worker rc" $? 0
    wait $spid
    expect_eq "submit rc" $? 0
    expect_eq "each result once" "$(sort "$T/out" | tr '\n' ' ')" "done 1 done 2 "
    ;;
redis_status)
    redis_start
    "$W" submit --redis "$RURL" "$HOLD; exit {}" ::: 0 5 0 || fail "submit"
    rstatus_has "^redis://127.0.0.1:$RPORT/0 (Redis, prefix weave: depths only)\$" ||
        fail "header: $(cat "$T/status")"
    grep -q '^get_task_queue: 3 queued$' "$T/status" || fail "$(cat "$T/status")"
    grep -q '^get_result_queue: 0 queued$' "$T/status" || fail "$(cat "$T/status")"
    "$W" worker --redis "$RURL" -j1 --max-jobs 3 2>"$T/werr" &
    wpid=$!
    bg $wpid
    poll_until 10 rstatus_has '^get_task_queue: 2 queued$' ||
        fail "no take seen: $(cat "$T/status")"
    touch "$T/go"
    wait $wpid
    expect_eq "worker rc" $? 0
    rstatus_has '^get_task_queue: 0 queued$' || fail "after: $(cat "$T/status")"
    grep -q '^get_result_queue: 3 queued$' "$T/status" || fail "results: $(cat "$T/status")"
    # no weave_status stream was made (workers do not report on Redis)
    redis_cmd KEYS '*' >"$T/keys" || fail "KEYS"
    grep -q get_task_queue "$T/keys" || fail "keys: $(cat "$T/keys")"
    grep -q weave_status "$T/keys" && fail "keys: $(cat "$T/keys")"
    ;;
redis_errors)
    redis_start
    WEAVE_REDIS_PASSWORD=wrong "$W" worker --redis "$RURL" 2>"$T/err"
    expect_eq "wrong password: worker rc" $? 77
    expect_eq "message" "$(cat "$T/err")" \
        "weave worker: $RURL refused the password, or wants one (WEAVE_REDIS_PASSWORD or REDISCLI_AUTH)"
    env -u WEAVE_REDIS_PASSWORD "$W" submit --redis "$RURL" true ::: a 2>"$T/err"
    expect_eq "no password: submit rc" $? 77
    WEAVE_REDIS_PASSWORD=wrong "$W" status --redis "$RURL" 2>"$T/err"
    expect_eq "wrong password: status rc" $? 77
    # the url's password wins over the environment's, and is not shown
    WEAVE_REDIS_PASSWORD=wrong "$W" status --redis "redis://:$REDIS_PW@127.0.0.1:$RPORT/0" >"$T/out" 2>&1 ||
        fail "the url's password: $(cat "$T/out")"
    grep -q "$REDIS_PW" "$T/out" && fail "the password is shown: $(cat "$T/out")"
    # redis-cli's variable, when weave's is not set
    env -u WEAVE_REDIS_PASSWORD REDISCLI_AUTH=$REDIS_PW "$W" status --redis "$RURL" >/dev/null 2>&1 ||
        fail "REDISCLI_AUTH"
    "$W" status --redis "$RURL" 127.0.0.1:5000 2>"$T/err"
    expect_eq "--redis and an address rc" $? 255
    "$W" status --redis "http://127.0.0.1:$RPORT" 2>"$T/err"
    expect_eq "not a redis url rc" $? 255
    "$W" status --redis "redis://127.0.0.1:$RPORT/99" 2>"$T/err"
    expect_eq "no such db rc" $? 255
    kill -9 $RPID
    wait $RPID 2>/dev/null
    start=$(date +%s)
    "$W" worker --redis "$RURL" --connect-timeout 1 2>"$T/err"
    expect_eq "unreachable rc" $? 69
    [ $(($(date +%s) - start)) -lt 5 ] || fail "too slow"
    expect_eq "message" "$(cat "$T/err")" "weave worker: cannot reach $RURL: connection refused"
    ;;
redis_serve)
    # weave serve --redis: a Python BaseManager master puts tasks through
    # serve; serve stops and starts again: the tasks were in Redis; a
    # weave worker through serve (leases, acks, renewals forwarded) and
    # one on Redis directly run them; the master reads the results
    # through serve.
    redis_start
    serve_start --redis "$RURL"
    grep -q "(queues get_task_queue, get_result_queue in $RURL)\$" "$T/serve.out" ||
        fail "$(cat "$T/serve.out")"
    python3 - "$PORT" >"$T/py" 2>&1 <<'PY' || fail "python put: $(cat "$T/py")"
import os, queue, sys
from multiprocessing.managers import BaseManager
class M(BaseManager): pass
M.register('get_task_queue'); M.register('get_result_queue')
m = M(address=('127.0.0.1', int(sys.argv[1])), authkey=os.environb[b'WEAVE_AUTHKEY'])
m.connect()
task, result = m.get_task_queue(), m.get_result_queue()
for i in range(3):
    task.put('echo task %d' % i)
assert task.qsize() == 3 and not task.empty() and result.empty()
try:
    result.get(timeout=0.2)
    sys.exit('a result from nowhere')
except queue.Empty:
    pass
try:
    result.get_nowait()
    sys.exit('a result from nowhere')
except queue.Empty:
    pass
print('ok')
PY
    serve_stop
    rstatus_has '^get_task_queue: 3 queued$' || fail "not in Redis: $(cat "$T/status")"
    serve_start --redis "$RURL"
    status_has '^get_task_queue: 3 queued (in Redis)$' || fail "$(cat "$T/status")"
    "$W" worker -j2 --max-jobs 2 --lease 1 "$ADDR" 2>"$T/w1" &
    w1=$!
    bg $w1
    "$W" worker --redis "$RURL" --max-jobs 1 --lease 1 2>"$T/w2" &
    w2=$!
    bg $w2
    python3 - "$PORT" >"$T/py" 2>&1 <<'PY' || fail "python get: $(cat "$T/py")"
import os, sys
from multiprocessing.managers import BaseManager
class M(BaseManager): pass
M.register('get_result_queue')
m = M(address=('127.0.0.1', int(sys.argv[1])), authkey=os.environb[b'WEAVE_AUTHKEY'])
m.connect()
result = m.get_result_queue()
outs = sorted(result.get(timeout=20)['stdout'] for _ in range(3))
assert outs == [b'task 0\n', b'task 1\n', b'task 2\n'], outs
print('ok')
PY
    wait $w1
    expect_eq "worker through serve rc" $? 0
    wait $w2
    expect_eq "worker on Redis rc" $? 0
    grep -q 'may run twice' "$T/w1" "$T/w2" && fail "a lease was lost: $(cat "$T/w1" "$T/w2")"
    # every lease acked through serve: the entries are gone from Redis
    expect_eq "entries left in the task stream" "$(redis_cmd XLEN weave:get_task_queue)" 0
    # submit --wait through serve, with a worker through serve
    "$W" worker -j2 --max-jobs 2 "$ADDR" 2>/dev/null &
    w1=$!
    bg $w1
    out=$("$W" submit --connect "$ADDR" --wait --wait-timeout 20 'echo {}' ::: a b | sort | tr '\n' ' ')
    expect_eq "submit through serve" "$out" "a b "
    wait $w1 || fail "worker rc"
    status_has '^jobs: 4 done, 0 failed' || fail "reports: $(cat "$T/status")"
    # a stop ends the waits forwarded to Redis at once, not at the
    # shutdown's 5 s deadline: an idle worker waits in a get
    "$W" worker "$ADDR" 2>"$T/w3" &
    w3=$!
    bg $w3
    poll_until 10 grep -q connected "$T/w3" || fail "worker 3: $(cat "$T/w3")"
    start=$(date +%s)
    serve_stop
    [ $(($(date +%s) - start)) -lt 4 ] || fail "serve took the whole shutdown deadline"
    kill -TERM $w3
    wait $w3
    expect_eq "worker 3 rc" $? 0
    # the plain gets' XACK + XDEL go out with a proxy's next command, or
    # when serve frees its proxies at the end: now
    expect_eq "entries left in the result stream" "$(redis_cmd XLEN weave:get_result_queue)" 0
    # the password refused: serve says so and exits 77
    WEAVE_REDIS_PASSWORD=wrong "$W" serve --bind 127.0.0.1:0 --redis "$RURL" 2>"$T/err"
    expect_eq "serve, wrong password: rc" $? 77
    grep -q 'password was refused' "$T/err" || fail "$(cat "$T/err")"
    ;;
redis_worker_reconnects)
    # A task queued before Redis restarts (same port, its AOF) is still
    # there after; a worker waiting when Redis dies says it lost it,
    # reconnects when it is back, and runs what is submitted then.
    redis_start
    "$W" submit --redis "$RURL" 'echo before' ::: x || fail "submit before"
    redis_cmd SHUTDOWN >/dev/null 2>&1
    wait $RPID 2>/dev/null
    redis_spawn
    poll_until 20 redis_up || fail "redis did not restart: $(cat "$T/redis.log")"
    rstatus_has '^get_task_queue: 1 queued$' || fail "the task is gone: $(cat "$T/status")"
    "$W" worker --redis "$RURL" -j1 2>"$T/werr" &
    wpid=$!
    bg $wpid
    out=$("$W" submit --redis "$RURL" --wait --wait-timeout 20 'echo after' ::: y)
    expect_eq "rc" $? 0
    expect_eq "output" "$out" "after y"
    # Redis dies while the worker waits, then comes back
    kill -9 $RPID
    wait $RPID 2>/dev/null
    poll_until 20 grep -q 'lost' "$T/werr" || fail "no loss reported: $(cat "$T/werr")"
    redis_spawn
    poll_until 30 lines_matching "$T/werr" '^weave worker: connected' 2 ||
        fail "did not reconnect: $(cat "$T/werr")"
    out=$("$W" submit --redis "$RURL" --wait --wait-timeout 20 'echo again' ::: z)
    expect_eq "rc after the restart" $? 0
    expect_eq "output after the restart" "$out" "again z"
    rstatus_has '^get_result_queue: 1 queued$' || fail "the first result: $(cat "$T/status")"
    kill -TERM $wpid
    wait $wpid
    expect_eq "worker rc" $? 0
    ;;
*)
    fail "no such case"
    ;;
esac
exit 0
