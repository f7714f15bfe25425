#!/usr/bin/env bash
# Mutation check: breaks the library on purpose, one mutation at a time, in
# a scratch copy of the tree, and requires the named test cases to catch
# each one.  A mutation that survives means a test that cannot fail.
#   tests/mutate.sh            all mutations
#   tests/mutate.sh 3          only the third
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
work=$(mktemp -d /tmp/weave-mutate.XXXXXX)
trap 'rm -rf "$work"' EXIT

# file ^ text to replace ^ replacement ^ cases that must fail
mutations=(
"src/ipc/mpqueue_repair.c^            __atomic_add_fetch(&h->redeliver, 1, __ATOMIC_SEQ_CST);
            cas(&c->state, w, ST(pos, FULL, R_MARK));
            CRASH_POINT(WV__PQ_CRASH_IN_REPAIR);^            cas(&c->state, w, ST(pos, FULL, R_MARK));
            CRASH_POINT(WV__PQ_CRASH_IN_REPAIR);
            __atomic_add_fetch(&h->redeliver, 1, __ATOMIC_SEQ_CST);^pqueue_repairer_killed_in_its_repair"
"src/ipc/mpqueue_repair.c^    int n = task_count(pid);
    return n < 0 || n > 1;^    return false;^pqueue_main_thread_exit_is_not_death"
"src/ipc/mpqueue_repair.c^            cas(&c->state, w, ST(pos + h->ncells, EMPTY, 0));^            (void)0;^pqueue_producer_killed_at_each_point"
"src/ipc/mpqueue_repair.c^            cas(&c->state, w, ST(pos, FULL, R_MARK));^            (void)0;^pqueue_consumer_killed_at_each_point"
"src/ipc/mpqueue_repair.c^        __atomic_add_fetch(&h->redeliver, 1, __ATOMIC_SEQ_CST);^        (void)0;^pqueue_consumer_killed_at_each_point"
"src/ipc/mpqueue_repair.c^        if (IS_RES(own_get(own, pg)) && (own_get(own, pg) & 1023u) == p)^        if (0)^pqueue_producer_killed_at_each_point"
"src/ipc/mpqueue_repair.c^            free_orphans(h);^            (void)0;^pqueue_consumer_killed_at_each_point"
"src/ipc/mpqueue_repair.c^    if (st != 'Z' && st != 'X' && st != 'x')
        return true;^    if (1)
        return true;^pqueue_consumer_killed_at_each_point"
"src/ipc/mpqueue.c^    if (n > cap) {^    if (0) {^pqueue_order_sizes_and_deadlines"
"src/ipc/mpqueue.c^    if (done < got)
        __atomic_add_fetch^    if (1)
        __atomic_add_fetch^pqueue_joinable_task_done_and_join"
"src/ipc/mpqueue.c^        if (npg > h->npages) {^        if (0) {^pqueue_order_sizes_and_deadlines"
"src/ipc/mpqueue.c^        if ((n <= 0 && !busy) ||^        if ((n <= 0 || !busy) ||^pqueue_joinable_task_done_and_join"
"src/ipc/psync.c^    p->reset_bits = reset ? p->reset_bits | bit : p->reset_bits & ~bit;^    p->reset_bits = p->reset_bits & ~bit;^pbarrier_timeout_abort_reset"
"src/ipc/psync.c^                p->broken = 1; /* Python breaks it; so does wv_barrier */^                (void)0;^pbarrier_timeout_abort_reset"
"src/ipc/psync.c^    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);^    (void)0;^plock_owner_death_is_reported"
"src/ipc/psync.c^        wv__futex_wake(&p->value, n > INT32_MAX ? INT32_MAX : (int)n, true);^        (void)0;^psem_pevent_bounded_buffer_between_processes"
"src/proc/process.c^        prctl(PR_SET_PDEATHSIG, SIGKILL);^        (void)0;^proc_daemon_dies_with_parent"
"src/proc/process.c^    *code = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;^    *code = si.si_code == CLD_EXITED ? si.si_status : si.si_status;^proc_signals_give_negative_codes sub_signals_give_negative_returncodes"
"src/proc/forkserver_main.c^CLD_EXITED ? si.si_status : -si.si_status;^CLD_EXITED ? si.si_status : si.si_status;^proc_forkserver_runs_the_process_cases"
"src/ipc/conn.c^    if ((err == WV_ETIMEDOUT || err == WV_EAGAIN) && written)^    if (0)^pipe_send_deadline_commits_the_message"
"src/ipc/conn.c^            if (*len > cap)
                return WV_EMSGSIZE;^            (void)0;^pipe_message_too_long_stays"
"src/ipc/conn.c^    if (f.magic != MAGIC || f.len > WV_CONN_MAX_MSG ||^    if (f.len > WV_CONN_MAX_MSG ||^pipe_garbage_is_eproto"
"src/pool/pool.c^    drain_queues(pool, WV_ECANCELED);^    (void)0;^pool_terminate_cancels_queued_tasks"
"src/pool/worker.c^    if (f && wv_future_set_running(f) != 0) { /* cancelled or expired */^    if (0) {^pool_cancel_queued_task"
"src/pool/worker.c^    return p->maxtasks && w->done >= p->maxtasks;^    return false;^pool_maxtasksperchild_replaces_workers"
"src/pool/worker.c^            wv__pool_break(p);^            (void)0;^pool_broken_by_failing_replacement"
"src/pool/worker.c^    if (__atomic_load_n(&p->live, __ATOMIC_RELAXED) >= p->max ||^    if (1 ||^pool_elastic_grows_and_shrinks"
"src/pool/pool.c^            wv__backoff(&spins);
    }
    __atomic_or_fetch(&p->flags, P_QUIET^            break;
    }
    __atomic_or_fetch(&p->flags, P_QUIET^pool_close_races_submitters"
"src/coro/sched.h^    w->state = WV__W_WOKEN;
    if (st == WV__W_SLEEPING)
        rq_push(s, co);^    w->state = WV__W_WOKEN;
    if (st == WV__W_PARKED)
        rq_push(s, co);^sched_main_blocking_runs_coroutines sched_join_deadline_then_result"
"src/coro/sched.c^            wake_local(s, fifo);^            (void)0;^sched_coroutine_waits_on_pool_future"
"src/coro/sched.c^        if (w && w->state == WV__W_SLEEPING) {
            w->state = WV__W_TIMEDOUT;^        if (0) {
            w->state = WV__W_TIMEDOUT;^sched_sleeps_end_in_deadline_order"
"src/coro/sched.c^    __atomic_store_n(&s->cancels, 1, __ATOMIC_SEQ_CST);
    wv__loop_kick(&s->loop);^    wv__loop_kick(&s->loop);^sched_cancel_and_join_from_another_thread"
"src/coro/group.c^    while (n > 1)^    while (n > 0)^sched_group_cancel_across_threads"
"src/coro/sched.c^    if (s->dead)
        wv__sched_reap(s);
    /* Cancelled^    /* Cancelled^sched_million_spawned_and_joined"
"src/loop/loop_linux.c^    if (old == IDLE_FUTEX) {^    if (0) {^sched_coroutine_waits_on_pool_future"
"src/pool/pworker.c^                    __atomic_load_n(&w->c->taken, __ATOMIC_RELAXED) == seq;^                    true;^ppool_worker_killed_idle_fails_nothing"
"src/pool/pool.c^        pool->kind->kill(pool);^        (void)0;^ppool_terminate_cancels_running_tasks"
"src/pool/pworker.c^        if (child_ended(w))^        if (0)^ppool_task_killed_fails_with_workerlost"
"src/pool/pworker.c^        int err = await(w, seq, deadline);^        int err = await(w, seq, WV_FOREVER);^ppool_task_past_deadline_is_killed"
"src/pool/pchild.c^    if (!__atomic_load_n(&c->parent_sleeps, __ATOMIC_SEQ_CST))^    if (1)^ppool_task_past_deadline_is_killed"
"src/pool/handler.c^           __atomic_load_n(&p->kind_open, __ATOMIC_SEQ_CST) == 0;^           1;^ppool_apply_runs_in_other_processes ppool_large_arguments_and_results ppool_stress_workers_dying_at_random"
"src/pool/tworker.c^        else if (rc)
            return rc;^        else if (rc) {
            if (progress)
                __atomic_store_n(progress, i + 1, __ATOMIC_RELAXED);
            return rc;
        }^ppool_map_and_failing_item pool_map_first_failure_stops_it"
"src/pool/pworker.c^    if (!w->proc)
        return true;
    w->c->op = OP_EXIT;^    if (1)
        return true;
    w->c->op = OP_EXIT;^ppool_maxtasksperchild_recycles"
"src/pool/pchild.c^    return child_pid && p->pid != child_pid;^    return false;^ppool_inherited_pool_is_refused_in_a_worker"
"src/pool/pworker.c^    if (p->zygote)^    if (0)^ppool_workers_do_not_inherit_locks_held_later"
"src/pool/handler.c^wv__future_fail_pending(due[i].obj, WV_ETIMEDOUT);^(void)0;^pool_task_deadline_fires_while_workers_busy"
"src/pool/handler.c^        rec->ecb(err, rec->arg);^        (void)0;^pool_terminate_cancels_queued_tasks pool_cancel_queued_task"
"src/pool/map.c^        if (a & CANCEL)
            return false;^        if (0)
            return false;^pool_map_deadline pool_map_first_failure_stops_it"
"src/pool/map.c^for (size_t s = 0; s < window && it->submitted < nchunks^for (size_t s = 0; s < nchunks && it->submitted < nchunks^pool_imap_window_bounds_work_ahead"
"src/pool/map.c^        it->stopped = true;^        (void)0;^pool_imap_terminated"
"src/pool/runq.c^        if (half)
            n -= n / 2;^        if (half)
            n = 0;^pool_close_runs_queued_tasks"
"src/sync/event.c^    return (int)wv__unpark(e, INT32_MAX, unpark_cb, e);^    return 0;^event_wakes_all"
"src/sync/sem.c^        if (!fits(v, n, limit))
            return WV_EOVERFLOW;^^sem_bounded"
"src/sync/lock.c^    wv__unpark(l, 1, unpark_cb, &rel);
    return rel.err;^    return 0;^lock_eintr"
"src/sync/lock.c^    if (r.unparked && wv_now() - r.since >= FAIR_MS) {^    if (0) {^lock_handoff_to_old_waiter"
"src/sync/cond.c^    if (!r.have_more)
        __atomic_store_n(&c->_waiters, 0^    if (1)
        __atomic_store_n(&c->_waiters, 0^cond_notify_n"
"src/sync/once.c^struct outcome o = {once, err < 0 ? INIT : DONE};^struct outcome o = {once, DONE};^once_failure_retries"
"src/sync/barrier.c^return b->_state == DRAINING ? 0 : WV_EBROKEN;^return 0;^barrier_abort barrier_timeout_breaks"
"src/sync/local.c^            if (dtor)
                dtor(value);^            (void)dtor;^local_dtor_at_thread_exit"
"src/sync/rlock.c^    if (__atomic_load_n(&r->_owner, __ATOMIC_RELAXED) != wv__self())
        return WV_EPERM;^    (void)0;^rlock_owner_only"
"src/sync/timer.c^return s == CANCELLED ? 0 : WV_EALREADY;^return 0;^timer_fires_after_delay"
"src/sync/thread.c^    wv__locals_thread_exit();
    self = NULL;^    self = NULL;^local_join_deadline_covers_dtors"
"src/core/park.c^if (req->validate && !req->validate(req->arg)) {^if (0) {^park_validate_refuses"
"src/core/park.c^    res.have_more = has_key(n, key);^    res.have_more = false;^park_fifo_and_tokens"
"src/core/park.c^    bucket_unlock(b);

    /* An unparker dequeued us before we could: its wake-up is in flight. */
    err = w.kind->sleep(&w, WV_FOREVER, WV__PARK_NOCANCEL);
    WV__ASSERT(err == 0);
    *token = w.token;
    return 0;^    bucket_unlock(b);
    return err;^park_timeout_unpark_race"
"src/core/waiter.c^    if (__atomic_exchange_n(word, WV__W_WOKEN, __ATOMIC_RELEASE) ==
        WV__W_SLEEPING)
        wv__futex_wake(word, 1, false);^    __atomic_exchange_n(word, WV__W_WOKEN, __ATOMIC_RELEASE);^park_fifo_and_tokens"
"src/queue/queue.c^        item = q->slots[q->head].item;^        item = q->slots[(q->head + q->len - 1) % q->cap].item;^queue_fifo_lifo_order"
"src/queue/queue.c^c == 0 && a->seq < b->seq^c == 0 && a->seq > b->seq^queue_priority_order_stable"
"src/queue/queue.c^    q->unfinished++;
^^queue_task_done_join"
"src/queue/queue.c^    if (immediate)
        wv_cond_notify_all(&q->all_done);^^queue_shutdown_immediate_releases_join"
"src/queue/future.c^        if ((s & OUTCOME) > RUNNING)
            return WV_EALREADY;^^future_result"
"src/queue/future.c^    if (claim(f) != 0) {
        wv__free(copy);
        return WV_EALREADY;
    }^    if (claim(f) != 0)
        return WV_EALREADY;^future_set_result_race"
"src/queue/future.c^    if (__atomic_load_n(&f->cbs, __ATOMIC_SEQ_CST))
        fire(f);^    (void)0;^future_callbacks future_callbacks_race_completion"
"src/core/time.c^ts->tv_sec = deadline / 1000;^ts->tv_sec = deadline / 1000 - 1;^time_sleep lock_deadline"
"src/sync/event.c^    while (!(s & WAITERS)) {
        if (s & SET)
            return 0;
        if (__atomic_compare_exchange_n(&e->_state, &s, s | SET, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return 0;
    }^    s = __atomic_fetch_or(&e->_state, SET, __ATOMIC_RELEASE);
    if (!(s & WAITERS))
        return 0;^lasttouch_event_set"
"src/sync/sem.c^    struct release rel = {s, n, limit, 0};^    __atomic_fetch_add(&s->_state, n * ONE, __ATOMIC_RELEASE);
    struct release rel = {s, 0, limit, 0};^lasttouch_sem_release"
"src/sync/once.c^        wv__unpark(once, INT32_MAX, unpark_cb, &o); /* WAITERS was set */^    {
        __atomic_store_n(&once->_state, o.end, __ATOMIC_RELEASE);
        wv__unpark(once, INT32_MAX, NULL, NULL);
    }^lasttouch_once_done"
"src/sync/lock.c^    wv__unpark(l, 1, unpark_cb, &rel);
    return rel.err;
}^    __atomic_fetch_and(&l->_state, ~HELD, __ATOMIC_RELEASE);
    wv__unpark(l, 1, NULL, NULL);
    return 0;
}^lasttouch_lock_release"
"src/sync/barrier.c^    while (b->_count > 0 && b->_state != FILLING)
        wv_cond_wait(&b->_cond, &b->_lock, WV_FOREVER);^^barrier_destroy_waits_for_leavers"
"src/sync/local.c^    wv__locals_cur = c;
    for (int round = 0;^    wv__locals_cur = NULL;
    for (int round = 0;^local_dtor_sees_thread_state"
"src/core/park.c^        if (((s | w->bit) & w->mask) != w->expect)
            return WV_EAGAIN;
^^park_word_only_on_a_word_worth_waiting"
"src/sync/local.c^        uint32_t cursor = 1;
        for (;;) {
            lock_reg();^        for (;;) {
            uint32_t cursor = 1;
            lock_reg();^local_dtor_rounds_are_bounded"
"src/sync/barrier.c^    while (b->_count > 0 && b->_state != FILLING)^    while (b->_count > 0 && (b->_state == DRAINING || b->_state == RESETTING))^barrier_destroy_after_break"
"src/subprocess/spawn_linux.c^    if (pl->err_to_out && dup2(1, 2) < 0)^    if (0 && dup2(1, 2) < 0)^sub_devnull_fd_and_merged_stderr"
"src/subprocess/spawn_linux.c^        if (src[i] >= 0 && src[i] < 3 && src[i] != i &&^        if (0 && src[i] < 3 && src[i] != i &&^sub_devnull_fd_and_merged_stderr"
"src/subprocess/spawn_linux.c^        if (err == 0 && errno != ENOENT && errno != ENOTDIR)^        if (0)^sub_bad_programs_fail_the_start"
"src/subprocess/popen.c^    pl->close_others = !o->inherit_fds;^    pl->close_others = false;^sub_pass_fds_and_closing_the_rest"
"src/subprocess/popen.c^    wv_process_free(p->child); /* kills and reaps a child still running */^    (void)0;^sub_free_kills_and_reaps_a_running_child"
"src/subprocess/communicate.c^        f->off = f->len; /* the child stopped reading: drop the rest */^        return (int)n;^sub_child_closes_stdin_early"
"src/subprocess/communicate.c^    else if (p->rest)
        f = (struct feed){p->rest, p->rest_len, p->rest_off};^^sub_deadline_then_resume_loses_nothing"
"src/subprocess/communicate.c^        stop(p);^        (void)0;^sub_run_timeout_kills_and_reaps"
"src/coro/chan.c^    if (queued)
        return err;^    return err;^chan_completion_wins_over_time_out chan_completion_wins_over_cancellation"
"src/coro/chan.c^        if (__atomic_compare_exchange_n(&wt.claim, &open, GAVE_UP, false,^        if (1 || __atomic_compare_exchange_n(&wt.claim, &open, GAVE_UP, false,^chan_completion_wins_over_time_out chan_completion_wins_over_cancellation"
"src/coro/chan.c^        if ((s = q_take(&ch->sendq)) != NULL) { /* it was full */
            ring_put(ch, s->_val, small);
            *wake = s->_wait;
        }^^chan_full_buffer_takes_a_blocked_senders_value"
"src/coro/chan.c^    if (!e->_select)
        return true;^    if (1)
        return true;^chan_stress_selects_exactly_once chan_close_wakes_blocked_selects"
"src/coro/chan.c^        if (++ready == 1 || rand_below(ready) == 0)^        if (++ready == 1)^chan_select_is_fair"
"src/coro/chan.c^    drain_waiters(&ch->sendq, &tail, WV_ESHUTDOWN);^^chan_close_wakes_blocked_senders_and_receivers"
"src/coro/chan.c^    int err = try_send(ch, val, &w, false);
    if (WV__LIKELY(err != WV_EAGAIN)) {
        chan_unlock(ch);
        wake(w);^    int err = try_send(ch, val, &w, false);
    if (WV__LIKELY(err != WV_EAGAIN)) {
        wake(w);
        chan_unlock(ch);^chan_waker_never_touches_the_channel_after_waking"
"src/coro/bias.c^            while (__atomic_load_n(&ch->busy, __ATOMIC_ACQUIRE) != 0)
                wv__backoff(&spins);^            (void)0;^chan_revoker_waits_for_a_long_owner_section"
"src/coro/bias.c^                               ? self
                               : OWNER_SHARED;^                               ? self
                               : self;^chan_is_never_biased_without_membarrier"
"src/coro/bias.c^            __atomic_store_n(&ch->owner, OWNER_SHARED, __ATOMIC_RELEASE);^            __atomic_store_n(&ch->owner, self, __ATOMIC_RELEASE);^chan_bias_revoked_while_the_owner_works chan_lock_is_biased_to_its_first_thread_until_another_comes"
"src/coro/bias.h^    if (WV__LIKELY(__atomic_load_n(&b->busy, __ATOMIC_RELAXED) ==
                   wv__bias_token))^    if (0)^chan_lock_is_biased_to_its_first_thread_until_another_comes"
"src/coro/bias.c^        wv__bias_token = __atomic_fetch_add(&next_token, 1, __ATOMIC_RELAXED);^        wv__bias_token = (uintptr_t)&wv__bias_token;^chan_bias_token_of_a_dead_thread_is_not_inherited"
"src/coro/group.c^    wv__bias_lock(&g->bias);
}

static void gunlock(wv_group_t *g)
{
    wv__bias_unlock(&g->bias);^    (void)g;
}

static void gunlock(wv_group_t *g)
{
    (void)g;^sched_group_bias_revoked_while_members_churn"
"src/core/futex_linux.c^    struct timespec ts = {0, 1000L << shift};
    nanosleep(&ts, NULL);^    (void)shift;
    sched_yield();^chan_revocation_under_real_time_priorities"
"src/coro/bias.h^    if (o == OWNER_SHARED && WV__LIKELY(wv__bias_token != 0))^    if (o == OWNER_SHARED)^chan_unbuffered_rendezvous"
"src/subprocess/obuf_linux.c^        if (huge && !b->small_pages && block + huge <= top) {^        if (huge && !b->small_pages && block <= top) {^sub_output_prefault_stays_in_its_buffer"
"src/subprocess/obuf_linux.c^    size_t huge = b->cap >= HUGE_FROM ? huge_size() : 0;^    size_t huge = b->cap >= HUGE_FROM && 0 ? huge_size() : 0;^sub_output_prefault_stays_in_its_buffer"
"src/subprocess/popen.c^    p->lend = opts->borrow_input;^    p->lend = opts->borrow_input;
    p->no_vmsplice = true;^sub_borrowed_input_stays_lent_across_a_deadline"
"src/subprocess/communicate.c^    if (f->data == p->rest || p->lend) {^    if (f->data == p->rest) {^sub_borrowed_input_stays_lent_across_a_deadline"
"src/ipc/conn.c^    return pipe_out(fd, iov, niov, true);^    return vmsplice(fd, iov, (size_t)niov, SPLICE_F_NONBLOCK);^sub_borrowed_input_to_a_child_that_stops_reading"
"src/coro/wordwait_linux.c^        if (errno == EAGAIN || errno == EFAULT)^        if (errno == EAGAIN)^pshared_coro_word_unmapped_after_abandon"
"src/loop/loop_linux.c^    return (uint64_t)l->epoch << 32 | r->gen;^    return r->gen;^net_edge_registration_names_its_loop"
"src/loop/loop_linux.c^    if (r->gen != (uint32_t)(e->data.u64 >> 32)) {^    if (0) {^net_edge_stale_registration_of_a_reused_number"
"src/loop/loop_linux.c^    bool registered = r->mode == FDREC_EDGE &&^    bool registered = false &&^net_edge_registration_costs_no_ctl_per_wait"
"src/loop/loop_linux.c^        r->edges |=
            (uint8_t)left |^        r->edges |=
            (uint8_t)0 |^stream_short_read_then_data_while_parked_elsewhere"
"src/loop/loop_linux.c^    uint8_t came = registered ? r->edges & (dirs | EDGE_END) : 0;^    uint8_t came = registered ? r->edges & dirs : 0;^stream_short_read_then_the_end"
"src/coro/fdwait.c^        while (io.f.op) {^        while (0) {^stream_io_uring_receive_cancelled_at_its_deadline"
"src/manager/server.c^        !(many || strcmp(method, \"get\") == 0) || !peer_gone(s))^        !(many || strcmp(method, \"get\") == 0) || 1)^manager_client_gone_mid_get_loses_no_task"
"src/manager/object.c^        if (m->objs[i]->kind == MGR_QUEUE)
            put_back(m->objs[i], owner, true);^        (void)0;^manager_killed_worker_loses_no_task"
"src/manager/object.c^        bool hit = all_of_owner ? l->owner == owner : l->expires <= now;^        bool hit = all_of_owner && l->owner == owner;^manager_lease_expires_and_goes_to_a_waiting_worker"
"src/manager/server.c^        int64_t deadline = wv_deadline_in(m->opts.handshake_ms);^        int64_t deadline = WV_FOREVER;^manager_hostile_peers_are_dropped_and_it_serves_on"
"src/loop/uring_linux.c^        unsigned want = n < u->expect ? n : u->expect;^        unsigned want = n;^stream_loop_batch_never_holds_a_lone_exchange"
"src/loop/uring_linux.c^        if (us && u->can_batch && want > 1)^        if (0)^stream_loop_batch_serves_every_connection"
"src/loop/uring_linux.c^            if ((uint64_t)ms * 1000 < us)^            if (0)^stream_loop_batch_never_holds_a_timer"
"src/loop/loop_linux.c^    wv__tls_io_by_readiness = !l->uring;^    wv__tls_io_by_readiness = true;^stream_io_goes_through_the_ring_on_io_uring"
"src/manager/value.c^            if (items)
                memcpy(items, seq->u.seq.items,
                       slots_of(seq, len) * sizeof *items);^            (void)0;^value_small_sequences_outgrow_their_node manager_rpc_local_and_remote"
"src/manager/pickle_dump.c^    return __atomic_load_n(&v->refs, __ATOMIC_RELAXED) != 1;^    return false;^value_bytes_match_cpython"
"src/manager/msg.c^    return encode(&e, 4, 1, method, scratch, buf, len);^    return encode(&e, 4, 0, method, scratch, buf, len);^manager_rpc_local_and_remote"
"src/manager/value.c^        if (!wv__vnode(v)->items_here)^        if (v->u.seq.items != (wv_obj_t **)(wv__vnode(v) + 1))^value_packed_allocator_frees_every_block"
)

only=${1:-}
survived=0
for i in "${!mutations[@]}"; do
    n=$((i + 1))
    [ -z "$only" ] || [ "$only" = "$n" ] || continue
    IFS='^' read -r -d '' file old new cases <<<"${mutations[$i]}"
    cases=${cases%$'\n'}
    rm -rf "$work/tree" && mkdir -p "$work/tree"
    cp -r "$src"/{CMakeLists.txt,cmake,include,src,tests,examples,bench,fuzz,cli} "$work/tree/"
    OLD=$old NEW=$new perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' \
        "$work/tree/$file"
    if cmp -s "$src/$file" "$work/tree/$file"; then
        echo "mutation $n: the expression did not apply to $file"
        survived=$((survived + 1))
        continue
    fi
    cmake -S "$work/tree" -B "$work/build" -DWEAVE_BUILD_BENCH=OFF \
        -DWEAVE_BUILD_EXAMPLES=OFF >/dev/null &&
        cmake --build "$work/build" -j "$(nproc)" >/dev/null 2>&1 || {
        echo "mutation $n: does not build (fine, but prove it with a test)"
        survived=$((survived + 1))
        continue
    }
    caught=0
    for c in $cases; do
        prog=$(cd "$work/build/tests" && for p in test_core test_sync test_queue test_pool test_ppool test_proc test_pqueue test_subprocess test_sched test_chan test_pshared_coro test_net test_stream test_server test_tls test_manager test_value; do
            ./$p --list | grep -q "^$c " && echo $p; done)
        if ! (cd "$work/build/tests" && timeout 120 "./$prog" "$c" >/dev/null 2>&1); then
            caught=1
        fi
    done
    if [ $caught = 1 ]; then
        echo "mutation $n ($file): caught by $cases"
    else
        echo "mutation $n ($file): SURVIVED ($cases all passed)"
        survived=$((survived + 1))
    fi
done
echo "$survived mutation(s) survived"
[ $survived = 0 ]
