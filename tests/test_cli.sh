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
trap 'rm -rf "$T"' EXIT

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
help_and_not_built)
    "$W" map --help | grep -q '^exit status:' || fail "map --help"
    "$W" --help | grep -q '^  map ' || fail "--help"
    "$W" --version | grep -q '^weave [0-9]' || fail "--version"
    for c in serve submit worker status; do
        "$W" $c 2>"$T/err"
        expect_eq "$c rc" $? 64
        expect_eq "$c message" "$(cat "$T/err")" "weave: $c: not built yet"
        "$W" $c --help | grep -q 'not built yet' || fail "$c --help"
    done
    ;;
*)
    fail "no such case"
    ;;
esac
exit 0
