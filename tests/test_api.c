/*
 * test_api.c - the API's promises that hold for every call at once:
 * a NULL object is WV_EINVAL for every call that returns an error code,
 * a no-op for every release and void call, false for every predicate and
 * 0 or NULL for every getter (docs/conventions.md, "NULL objects"); and
 * the shared object exports exactly the functions its headers declare
 * (tests/check_exports.sh, run by CTest beside this program).
 *
 * Each call runs in a child of its own, so one that crashes is reported
 * by name and the others still run.
 */
#include "runner.h"

#include <weave.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs case i; nonzero when the call kept its promise. */
static int run_case(int i)
{
    switch (i) {
    case 0: /* wv_chan_new */
        return wv_chan_new(NULL, 0, 0) == WV_EINVAL;
    case 1: /* wv_chan_free */
        wv_chan_free(NULL);
        return 1;
    case 2: /* wv_chan_send */
        return wv_chan_send(NULL, NULL, 0) == WV_EINVAL;
    case 3: /* wv_chan_recv */
        return wv_chan_recv(NULL, NULL, 0) == WV_EINVAL;
    case 4: /* wv_chan_close */
        return wv_chan_close(NULL) == WV_EINVAL;
    case 5: /* wv_chan_len */
        return wv_chan_len(NULL) == 0;
    case 6: /* wv_chan_cap */
        return wv_chan_cap(NULL) == 0;
    case 7:                                             /* wv_chan_select */
        return wv_chan_select(NULL, 0, 0) == WV_EAGAIN; /* no case: waits */
    case 8:                                             /* wv_coro_spawn */
        return wv_coro_spawn(NULL, NULL, NULL, NULL) == WV_EINVAL;
    case 9: /* wv_coro_join */
        return wv_coro_join(NULL, NULL, 0) == WV_EINVAL;
    case 10: /* wv_coro_cancel */
        wv_coro_cancel(NULL);
        return 1;
    case 11: /* wv_coro_is_cancelled */
        return !wv_coro_is_cancelled(NULL);
    case 12: /* wv_coro_free */
        wv_coro_free(NULL);
        return 1;
    case 13:                               /* wv_coro_name */
        return wv_coro_name(NULL) != NULL; /* the caller's */
    case 14:                               /* wv_group_new */
        return wv_group_new(NULL) == WV_EINVAL;
    case 15: /* wv_group_spawn */
        return wv_group_spawn(NULL, NULL, NULL, NULL) == WV_EINVAL;
    case 16: /* wv_group_join */
        return wv_group_join(NULL, 0) == WV_EINVAL;
    case 17: /* wv_group_cancel */
        wv_group_cancel(NULL);
        return 1;
    case 18: /* wv_group_count */
        return wv_group_count(NULL) == 0;
    case 19: /* wv_group_free */
        wv_group_free(NULL);
        return 1;
    case 20: /* wv_pipe */
        return wv_pipe(NULL, NULL, 0) == WV_EINVAL;
    case 21: /* wv_conn_send */
        return wv_conn_send(NULL, NULL, 0, 0) == WV_EINVAL;
    case 22: /* wv_conn_recv */
        return wv_conn_recv(NULL, NULL, 0, NULL, 0) == WV_EINVAL;
    case 23: /* wv_conn_poll */
        return wv_conn_poll(NULL, 0) == WV_EINVAL;
    case 24: /* wv_conn_flush */
        return wv_conn_flush(NULL, 0) == WV_EINVAL;
    case 25: /* wv_conn_send_fds */
        return wv_conn_send_fds(NULL, NULL, 0, NULL, 0, 0) == WV_EINVAL;
    case 26: /* wv_conn_recv_fds */
        return wv_conn_recv_fds(NULL, NULL, 0, NULL, NULL, NULL, 0) ==
               WV_EINVAL;
    case 27: /* wv_conn_fileno */
        return wv_conn_fileno(NULL) == WV_EINVAL;
    case 28: /* wv_conn_close */
        return wv_conn_close(NULL) == WV_EINVAL;
    case 29: /* wv_conn_free */
        wv_conn_free(NULL);
        return 1;
    case 30: /* wv_shm_anon */
        return wv_shm_anon(NULL, 0) == WV_EINVAL;
    case 31: /* wv_shm_addr */
        return wv_shm_addr(NULL) == NULL;
    case 32: /* wv_shm_size */
        return wv_shm_size(NULL) == 0;
    case 33: /* wv_shm_name */
        return wv_shm_name(NULL) == NULL;
    case 34: /* wv_shm_free */
        wv_shm_free(NULL);
        return 1;
    case 35: /* wv_plock_init */
        return wv_plock_init(NULL, 0) == WV_EINVAL;
    case 36: /* wv_plock_acquire */
        return wv_plock_acquire(NULL, 0) == WV_EINVAL;
    case 37: /* wv_plock_release */
        return wv_plock_release(NULL) == WV_EINVAL;
    case 38: /* wv_plock_consistent */
        return wv_plock_consistent(NULL) == WV_EINVAL;
    case 39: /* wv_plock_destroy */
        wv_plock_destroy(NULL);
        return 1;
    case 40: /* wv_psem_init */
        return wv_psem_init(NULL, 0) == WV_EINVAL;
    case 41: /* wv_psem_init_bounded */
        return wv_psem_init_bounded(NULL, 0) == WV_EINVAL;
    case 42: /* wv_psem_destroy */
        wv_psem_destroy(NULL);
        return 1;
    case 43: /* wv_psem_acquire */
        return wv_psem_acquire(NULL, 0) == WV_EINVAL;
    case 44: /* wv_psem_release */
        return wv_psem_release(NULL, 0) == WV_EINVAL;
    case 45: /* wv_psem_value */
        return wv_psem_value(NULL) == 0;
    case 46: /* wv_pevent_init */
        wv_pevent_init(NULL);
        return 1;
    case 47: /* wv_pevent_destroy */
        wv_pevent_destroy(NULL);
        return 1;
    case 48: /* wv_pevent_set */
        return wv_pevent_set(NULL) == WV_EINVAL;
    case 49: /* wv_pevent_clear */
        wv_pevent_clear(NULL);
        return 1;
    case 50: /* wv_pevent_is_set */
        return !wv_pevent_is_set(NULL);
    case 51: /* wv_pevent_wait */
        return wv_pevent_wait(NULL, 0) == WV_EINVAL;
    case 52: /* wv_pcond_init */
        return wv_pcond_init(NULL) == WV_EINVAL;
    case 53: /* wv_pcond_wait */
        return wv_pcond_wait(NULL, NULL, 0) == WV_EINVAL;
    case 54: /* wv_pcond_notify */
        return wv_pcond_notify(NULL, 0) == WV_EINVAL;
    case 55: /* wv_pcond_notify_all */
        return wv_pcond_notify_all(NULL) == WV_EINVAL;
    case 56: /* wv_pcond_destroy */
        wv_pcond_destroy(NULL);
        return 1;
    case 57: /* wv_pbarrier_init */
        return wv_pbarrier_init(NULL, 0) == WV_EINVAL;
    case 58: /* wv_pbarrier_wait */
        return wv_pbarrier_wait(NULL, 0) == WV_EINVAL;
    case 59: /* wv_pbarrier_abort */
        wv_pbarrier_abort(NULL);
        return 1;
    case 60: /* wv_pbarrier_reset */
        wv_pbarrier_reset(NULL);
        return 1;
    case 61: /* wv_pbarrier_is_broken */
        return !wv_pbarrier_is_broken(NULL);
    case 62: /* wv_pbarrier_destroy */
        wv_pbarrier_destroy(NULL);
        return 1;
    case 63: /* wv_value_new */
        return wv_value_new(NULL, 0, 0) == WV_EINVAL;
    case 64: /* wv_value_ptr */
        return wv_value_ptr(NULL) == NULL;
    case 65: /* wv_value_size */
        return wv_value_size(NULL) == 0;
    case 66: /* wv_value_lock */
        return wv_value_lock(NULL) == NULL;
    case 67: /* wv_value_free */
        wv_value_free(NULL);
        return 1;
    case 68: /* wv_array_new */
        return wv_array_new(NULL, 0, 0, 0) == WV_EINVAL;
    case 69: /* wv_array_ptr */
        return wv_array_ptr(NULL) == NULL;
    case 70: /* wv_array_len */
        return wv_array_len(NULL) == 0;
    case 71: /* wv_array_size */
        return wv_array_size(NULL) == 0;
    case 72: /* wv_array_lock */
        return wv_array_lock(NULL) == NULL;
    case 73: /* wv_array_free */
        wv_array_free(NULL);
        return 1;
    case 74: /* wv_mpqueue_new */
        return wv_mpqueue_new(NULL, NULL) == WV_EINVAL;
    case 75: /* wv_mpqueue_put */
        return wv_mpqueue_put(NULL, NULL, 0, 0) == WV_EINVAL;
    case 76: /* wv_mpqueue_get */
        return wv_mpqueue_get(NULL, NULL, 0, NULL, 0) == WV_EINVAL;
    case 77: /* wv_mpqueue_peek_len */
        return wv_mpqueue_peek_len(NULL, NULL) == WV_EINVAL;
    case 78: /* wv_mpqueue_task_done */
        return wv_mpqueue_task_done(NULL) == WV_EINVAL;
    case 79: /* wv_mpqueue_join */
        return wv_mpqueue_join(NULL, 0) == WV_EINVAL;
    case 80: /* wv_mpqueue_shutdown */
        wv_mpqueue_shutdown(NULL, 0);
        return 1;
    case 81: /* wv_mpqueue_qsize */
        return wv_mpqueue_qsize(NULL) == 0;
    case 82: /* wv_mpqueue_is_empty */
        return !wv_mpqueue_is_empty(NULL);
    case 83: /* wv_mpqueue_is_full */
        return !wv_mpqueue_is_full(NULL);
    case 84: /* wv_mpqueue_name */
        return wv_mpqueue_name(NULL) == NULL;
    case 85: /* wv_mpqueue_free */
        wv_mpqueue_free(NULL);
        return 1;
    case 86: /* wv_task_return */
        return wv_task_return(NULL, NULL, 0) == WV_EINVAL;
    case 87: /* wv_task_index */
        return wv_task_index(NULL) == 0;
    case 88: /* wv_pool_new */
        return wv_pool_new(NULL, NULL) == WV_EINVAL;
    case 89: /* wv_pool_apply_async */
        return wv_pool_apply_async(NULL, NULL, NULL, NULL, 0, NULL) ==
               WV_EINVAL;
    case 90: /* wv_pool_apply */
        return wv_pool_apply(NULL, NULL, NULL, 0, NULL, 0, NULL, 0) ==
               WV_EINVAL;
    case 91: /* wv_pool_map */
        return wv_pool_map(NULL, NULL, NULL, NULL, 0, 0, NULL, 0, NULL) ==
               WV_EINVAL;
    case 92: /* wv_pool_map_async */
        return wv_pool_map_async(NULL, NULL, NULL, NULL, 0, 0, NULL, 0, NULL) ==
               WV_EINVAL;
    case 93: /* wv_pool_imap */
        return wv_pool_imap(NULL, NULL, NULL, NULL, 0, 0, 0, NULL) == WV_EINVAL;
    case 94: /* wv_pool_imap_unordered */
        return wv_pool_imap_unordered(NULL, NULL, NULL, NULL, 0, 0, 0, NULL) ==
               WV_EINVAL;
    case 95: /* wv_imap_next */
        return wv_imap_next(NULL, NULL, NULL, 0) == WV_EINVAL;
    case 96: /* wv_imap_free */
        wv_imap_free(NULL);
        return 1;
    case 97: /* wv_pool_close */
        wv_pool_close(NULL);
        return 1;
    case 98: /* wv_pool_terminate */
        wv_pool_terminate(NULL);
        return 1;
    case 99: /* wv_pool_join */
        return wv_pool_join(NULL, 0) == WV_EINVAL;
    case 100: /* wv_pool_free */
        wv_pool_free(NULL);
        return 1;
    case 101: /* wv_pool_workers */
        return wv_pool_workers(NULL) == 0;
    case 102: /* wv_process_start */
        return wv_process_start(NULL, NULL, NULL, NULL) == WV_EINVAL;
    case 103: /* wv_process_join */
        return wv_process_join(NULL, NULL, 0) == WV_EINVAL;
    case 104: /* wv_process_is_alive */
        return !wv_process_is_alive(NULL);
    case 105: /* wv_process_exitcode */
        return wv_process_exitcode(NULL, NULL) == WV_EINVAL;
    case 106: /* wv_process_pid */
        return wv_process_pid(NULL) == 0;
    case 107: /* wv_process_name */
        return wv_process_name(NULL) == NULL;
    case 108: /* wv_process_send_signal */
        return wv_process_send_signal(NULL, 0) == WV_EINVAL;
    case 109: /* wv_process_terminate */
        return wv_process_terminate(NULL) == WV_EINVAL;
    case 110: /* wv_process_kill */
        return wv_process_kill(NULL) == WV_EINVAL;
    case 111: /* wv_process_free */
        wv_process_free(NULL);
        return 1;
    case 112: /* wv_queue_new */
        return wv_queue_new(NULL, NULL) == WV_EINVAL;
    case 113: /* wv_queue_free */
        wv_queue_free(NULL);
        return 1;
    case 114: /* wv_queue_put */
        return wv_queue_put(NULL, NULL, 0) == WV_EINVAL;
    case 115: /* wv_queue_get */
        return wv_queue_get(NULL, NULL, 0) == WV_EINVAL;
    case 116: /* wv_queue_get_many */
        return wv_queue_get_many(NULL, NULL, 0, 0) == WV_EINVAL;
    case 117: /* wv_queue_qsize */
        return wv_queue_qsize(NULL) == 0;
    case 118: /* wv_queue_is_empty */
        return !wv_queue_is_empty(NULL);
    case 119: /* wv_queue_is_full */
        return !wv_queue_is_full(NULL);
    case 120: /* wv_queue_task_done */
        return wv_queue_task_done(NULL) == WV_EINVAL;
    case 121: /* wv_queue_join */
        return wv_queue_join(NULL, 0) == WV_EINVAL;
    case 122: /* wv_queue_shutdown */
        wv_queue_shutdown(NULL, 0);
        return 1;
    case 123: /* wv_queue_is_shutdown */
        return !wv_queue_is_shutdown(NULL);
    case 124: /* wv_future_new */
        return wv_future_new(NULL) == WV_EINVAL;
    case 125: /* wv_future_ref */
        return wv_future_ref(NULL) == NULL;
    case 126: /* wv_future_unref */
        wv_future_unref(NULL);
        return 1;
    case 127: /* wv_future_set_result */
        return wv_future_set_result(NULL, NULL, 0) == WV_EINVAL;
    case 128: /* wv_future_set_error */
        return wv_future_set_error(NULL, 0) == WV_EINVAL;
    case 129: /* wv_future_set_running */
        return wv_future_set_running(NULL) == WV_EINVAL;
    case 130: /* wv_future_cancel */
        return wv_future_cancel(NULL) == WV_EINVAL;
    case 131: /* wv_future_is_ready */
        return !wv_future_is_ready(NULL);
    case 132: /* wv_future_is_successful */
        return !wv_future_is_successful(NULL);
    case 133: /* wv_future_is_cancelled */
        return !wv_future_is_cancelled(NULL);
    case 134: /* wv_future_is_running */
        return !wv_future_is_running(NULL);
    case 135: /* wv_future_wait */
        return wv_future_wait(NULL, 0) == WV_EINVAL;
    case 136: /* wv_future_get */
        return wv_future_get(NULL, NULL, NULL, 0) == WV_EINVAL;
    case 137: /* wv_future_error */
        return wv_future_error(NULL) == WV_EINVAL;
    case 138: /* wv_future_add_done_callback */
        return wv_future_add_done_callback(NULL, NULL, NULL) == WV_EINVAL;
    case 139: /* wv_popen_new */
        return wv_popen_new(NULL, NULL) == WV_EINVAL;
    case 140: /* wv_popen_communicate */
        return wv_popen_communicate(NULL, NULL, 0, NULL, NULL, 0) == WV_EINVAL;
    case 141: /* wv_popen_wait */
        return wv_popen_wait(NULL, NULL, 0) == WV_EINVAL;
    case 142: /* wv_popen_poll */
        return wv_popen_poll(NULL, NULL) == WV_EINVAL;
    case 143: /* wv_popen_returncode */
        return wv_popen_returncode(NULL, NULL) == WV_EINVAL;
    case 144: /* wv_popen_pid */
        return wv_popen_pid(NULL) == 0;
    case 145: /* wv_popen_fd */
        return wv_popen_fd(NULL, 0) == WV_EINVAL;
    case 146: /* wv_popen_write */
        return wv_popen_write(NULL, NULL, 0, NULL, 0) == WV_EINVAL;
    case 147: /* wv_popen_read */
        return wv_popen_read(NULL, 0, NULL, 0, NULL, 0) == WV_EINVAL;
    case 148: /* wv_popen_close_stdin */
        wv_popen_close_stdin(NULL);
        return 1;
    case 149: /* wv_popen_send_signal */
        return wv_popen_send_signal(NULL, 0) == WV_EINVAL;
    case 150: /* wv_popen_terminate */
        return wv_popen_terminate(NULL) == WV_EINVAL;
    case 151: /* wv_popen_kill */
        return wv_popen_kill(NULL) == WV_EINVAL;
    case 152: /* wv_popen_free */
        wv_popen_free(NULL);
        return 1;
    case 153: /* wv_subprocess_run */
        return wv_subprocess_run(NULL, NULL, 0, 0, NULL, 0) == WV_EINVAL;
    case 154: /* wv_subprocess_check_output */
        return wv_subprocess_check_output(NULL, NULL, 0, NULL, 0) == WV_EINVAL;
    case 155: /* wv_thread_start */
        return wv_thread_start(NULL, NULL, NULL, NULL) == WV_EINVAL;
    case 156: /* wv_thread_join */
        return wv_thread_join(NULL, NULL, 0) == WV_EINVAL;
    case 157: /* wv_thread_free */
        wv_thread_free(NULL);
        return 1;
    case 158: /* wv_thread_is_alive */
        return !wv_thread_is_alive(NULL);
    case 159: /* wv_thread_name */
        return wv_thread_name(NULL) == NULL;
    case 160: /* wv_thread_native_id */
        return wv_thread_native_id(NULL) == 0;
    case 161: /* wv_lock_init */
        wv_lock_init(NULL);
        return 1;
    case 162: /* wv_lock_destroy */
        wv_lock_destroy(NULL);
        return 1;
    case 163: /* wv_lock_acquire */
        return wv_lock_acquire(NULL, 0) == WV_EINVAL;
    case 164: /* wv_lock_release */
        return wv_lock_release(NULL) == WV_EINVAL;
    case 165: /* wv_lock_is_locked */
        return !wv_lock_is_locked(NULL);
    case 166: /* wv_rlock_init */
        wv_rlock_init(NULL);
        return 1;
    case 167: /* wv_rlock_destroy */
        wv_rlock_destroy(NULL);
        return 1;
    case 168: /* wv_rlock_acquire */
        return wv_rlock_acquire(NULL, 0) == WV_EINVAL;
    case 169: /* wv_rlock_release */
        return wv_rlock_release(NULL) == WV_EINVAL;
    case 170: /* wv_rlock_is_owned */
        return !wv_rlock_is_owned(NULL);
    case 171: /* wv_cond_init */
        wv_cond_init(NULL);
        return 1;
    case 172: /* wv_cond_destroy */
        wv_cond_destroy(NULL);
        return 1;
    case 173: /* wv_cond_wait */
        return wv_cond_wait(NULL, NULL, 0) == WV_EINVAL;
    case 174: /* wv_cond_wait_rlock */
        return wv_cond_wait_rlock(NULL, NULL, 0) == WV_EINVAL;
    case 175: /* wv_cond_wait_for */
        return wv_cond_wait_for(NULL, NULL, NULL, NULL, 0) == WV_EINVAL;
    case 176: /* wv_cond_wait_for_rlock */
        return wv_cond_wait_for_rlock(NULL, NULL, NULL, NULL, 0) == WV_EINVAL;
    case 177: /* wv_cond_notify */
        return wv_cond_notify(NULL, 0) == WV_EINVAL;
    case 178: /* wv_cond_notify_all */
        return wv_cond_notify_all(NULL) == WV_EINVAL;
    case 179: /* wv_sem_init */
        return wv_sem_init(NULL, 0) == WV_EINVAL;
    case 180: /* wv_sem_init_bounded */
        return wv_sem_init_bounded(NULL, 0) == WV_EINVAL;
    case 181: /* wv_sem_destroy */
        wv_sem_destroy(NULL);
        return 1;
    case 182: /* wv_sem_acquire */
        return wv_sem_acquire(NULL, 0) == WV_EINVAL;
    case 183: /* wv_sem_release */
        return wv_sem_release(NULL, 0) == WV_EINVAL;
    case 184: /* wv_sem_value */
        return wv_sem_value(NULL) == 0;
    case 185: /* wv_event_init */
        wv_event_init(NULL);
        return 1;
    case 186: /* wv_event_destroy */
        wv_event_destroy(NULL);
        return 1;
    case 187: /* wv_event_set */
        return wv_event_set(NULL) == WV_EINVAL;
    case 188: /* wv_event_clear */
        wv_event_clear(NULL);
        return 1;
    case 189: /* wv_event_is_set */
        return !wv_event_is_set(NULL);
    case 190: /* wv_event_wait */
        return wv_event_wait(NULL, 0) == WV_EINVAL;
    case 191: /* wv_barrier_init */
        return wv_barrier_init(NULL, 0, NULL, NULL) == WV_EINVAL;
    case 192: /* wv_barrier_destroy */
        wv_barrier_destroy(NULL);
        return 1;
    case 193: /* wv_barrier_wait */
        return wv_barrier_wait(NULL, 0) == WV_EINVAL;
    case 194: /* wv_barrier_abort */
        wv_barrier_abort(NULL);
        return 1;
    case 195: /* wv_barrier_reset */
        wv_barrier_reset(NULL);
        return 1;
    case 196: /* wv_barrier_parties */
        return wv_barrier_parties(NULL) == 0;
    case 197: /* wv_barrier_n_waiting */
        return wv_barrier_n_waiting(NULL) == 0;
    case 198: /* wv_barrier_is_broken */
        return !wv_barrier_is_broken(NULL);
    case 199: /* wv_once */
        return wv_once(NULL, NULL, NULL, 0) == WV_EINVAL;
    case 200: /* wv_once_is_done */
        return !wv_once_is_done(NULL);
    case 201: /* wv_local_init */
        return wv_local_init(NULL, NULL) == WV_EINVAL;
    case 202: /* wv_local_destroy */
        wv_local_destroy(NULL);
        return 1;
    case 203: /* wv_local_get */
        return wv_local_get(NULL) == NULL;
    case 204: /* wv_local_set */
        return wv_local_set(NULL, NULL) == WV_EINVAL;
    case 205: /* wv_timer_start */
        return wv_timer_start(NULL, 0, NULL, NULL) == WV_EINVAL;
    case 206: /* wv_timer_cancel */
        return wv_timer_cancel(NULL) == WV_EINVAL;
    case 207: /* wv_timer_join */
        return wv_timer_join(NULL, 0) == WV_EINVAL;
    case 208: /* wv_timer_free */
        wv_timer_free(NULL);
        return 1;
    case 209: /* wv_addr_from_ip */
        return wv_addr_from_ip(NULL, "127.0.0.1", 0) == WV_EINVAL;
    case 210: /* wv_addr_from_unix */
        return wv_addr_from_unix(NULL, "/x") == WV_EINVAL;
    case 211: /* wv_addr_format */
        return wv_addr_format(NULL, NULL, 0) == WV_EINVAL;
    case 212: /* wv_addr_family */
        return wv_addr_family(NULL) == 0;
    case 213: /* wv_addr_port */
        return wv_addr_port(NULL) == 0;
    case 214: /* wv_getaddrinfo */
        return wv_getaddrinfo(NULL, NULL, "localhost", NULL, 0) == WV_EINVAL;
    case 215: /* wv_addrinfo_free */
        wv_addrinfo_free(NULL);
        return 1;
    case 216: /* wv_sock_adopt */
        return wv_sock_adopt(NULL, 0) == WV_EINVAL;
    case 217: /* wv_sock_pair */
        return wv_sock_pair(NULL, NULL, 0) == WV_EINVAL;
    case 218: /* wv_sock_fd */
        return wv_sock_fd(NULL) == WV_EINVAL;
    case 219: /* wv_sock_close */
        return wv_sock_close(NULL) == WV_EINVAL;
    case 220: /* wv_sock_free */
        wv_sock_free(NULL);
        return 1;
    case 221: /* wv_sock_local_addr */
        return wv_sock_local_addr(NULL, NULL) == WV_EINVAL;
    case 222: /* wv_sock_peer_addr */
        return wv_sock_peer_addr(NULL, NULL) == WV_EINVAL;
    case 223: /* wv_sock_connect */
        return wv_sock_connect(NULL, NULL, NULL, 0) == WV_EINVAL;
    case 224: /* wv_tcp_connect */
        return wv_tcp_connect(NULL, NULL, NULL, 0, 0) == WV_EINVAL;
    case 225: /* wv_sock_listen */
        return wv_sock_listen(NULL, NULL, NULL) == WV_EINVAL;
    case 226: /* wv_sock_accept */
        return wv_sock_accept(NULL, NULL, NULL, 0) == WV_EINVAL;
    case 227: /* wv_sock_shutdown */
        return wv_sock_shutdown(NULL, 0) == WV_EINVAL;
    case 228: /* wv_sock_send */
        return wv_sock_send(NULL, NULL, 0, NULL, 0) == WV_EINVAL;
    case 229: /* wv_sock_sendall */
        return wv_sock_sendall(NULL, NULL, 0, NULL, 0) == WV_EINVAL;
    case 230: /* wv_sock_recv */
        return wv_sock_recv(NULL, NULL, 0, NULL, 0) == WV_EINVAL;
    case 231: /* wv_sock_sendto */
        return wv_sock_sendto(NULL, NULL, 0, NULL, 0) == WV_EINVAL;
    case 232: /* wv_sock_recvfrom */
        return wv_sock_recvfrom(NULL, NULL, 0, NULL, NULL, 0) == WV_EINVAL;
    case 233: /* wv_sock_send_fds */
        return wv_sock_send_fds(NULL, NULL, 0, NULL, 0, NULL, 0) == WV_EINVAL;
    case 234: /* wv_sock_recv_fds */
        return wv_sock_recv_fds(NULL, NULL, 0, NULL, NULL, NULL, 0) ==
               WV_EINVAL;
    case 235: /* wv_sock_sendfile */
        return wv_sock_sendfile(NULL, 0, 0, 0, NULL, 0) == WV_EINVAL;
    case 236: /* wv_udp_new */
        return wv_udp_new(NULL, NULL, NULL, NULL) == WV_EINVAL;
    case 237: /* wv_sock_join_group */
        return wv_sock_join_group(NULL, NULL, 0) == WV_EINVAL;
    case 238: /* wv_sock_leave_group */
        return wv_sock_leave_group(NULL, NULL, 0) == WV_EINVAL;
    case 239: /* wv_sock_set_nodelay */
        return wv_sock_set_nodelay(NULL, true) == WV_EINVAL;
    case 240: /* wv_sock_set_keepalive */
        return wv_sock_set_keepalive(NULL, true, 0, 0, 0) == WV_EINVAL;
    case 241: /* wv_sock_set_reuseaddr */
        return wv_sock_set_reuseaddr(NULL, true) == WV_EINVAL;
    case 242: /* wv_sock_set_reuseport */
        return wv_sock_set_reuseport(NULL, true) == WV_EINVAL;
    case 243: /* wv_sock_set_sndbuf */
        return wv_sock_set_sndbuf(NULL, 4096) == WV_EINVAL;
    case 244: /* wv_sock_set_rcvbuf */
        return wv_sock_set_rcvbuf(NULL, 4096) == WV_EINVAL;
    case 245: /* wv_sock_set_broadcast */
        return wv_sock_set_broadcast(NULL, true) == WV_EINVAL;
    }
    return -1;
}

static const char *const case_names[] = {
    "wv_chan_new",
    "wv_chan_free",
    "wv_chan_send",
    "wv_chan_recv",
    "wv_chan_close",
    "wv_chan_len",
    "wv_chan_cap",
    "wv_chan_select",
    "wv_coro_spawn",
    "wv_coro_join",
    "wv_coro_cancel",
    "wv_coro_is_cancelled",
    "wv_coro_free",
    "wv_coro_name",
    "wv_group_new",
    "wv_group_spawn",
    "wv_group_join",
    "wv_group_cancel",
    "wv_group_count",
    "wv_group_free",
    "wv_pipe",
    "wv_conn_send",
    "wv_conn_recv",
    "wv_conn_poll",
    "wv_conn_flush",
    "wv_conn_send_fds",
    "wv_conn_recv_fds",
    "wv_conn_fileno",
    "wv_conn_close",
    "wv_conn_free",
    "wv_shm_anon",
    "wv_shm_addr",
    "wv_shm_size",
    "wv_shm_name",
    "wv_shm_free",
    "wv_plock_init",
    "wv_plock_acquire",
    "wv_plock_release",
    "wv_plock_consistent",
    "wv_plock_destroy",
    "wv_psem_init",
    "wv_psem_init_bounded",
    "wv_psem_destroy",
    "wv_psem_acquire",
    "wv_psem_release",
    "wv_psem_value",
    "wv_pevent_init",
    "wv_pevent_destroy",
    "wv_pevent_set",
    "wv_pevent_clear",
    "wv_pevent_is_set",
    "wv_pevent_wait",
    "wv_pcond_init",
    "wv_pcond_wait",
    "wv_pcond_notify",
    "wv_pcond_notify_all",
    "wv_pcond_destroy",
    "wv_pbarrier_init",
    "wv_pbarrier_wait",
    "wv_pbarrier_abort",
    "wv_pbarrier_reset",
    "wv_pbarrier_is_broken",
    "wv_pbarrier_destroy",
    "wv_value_new",
    "wv_value_ptr",
    "wv_value_size",
    "wv_value_lock",
    "wv_value_free",
    "wv_array_new",
    "wv_array_ptr",
    "wv_array_len",
    "wv_array_size",
    "wv_array_lock",
    "wv_array_free",
    "wv_mpqueue_new",
    "wv_mpqueue_put",
    "wv_mpqueue_get",
    "wv_mpqueue_peek_len",
    "wv_mpqueue_task_done",
    "wv_mpqueue_join",
    "wv_mpqueue_shutdown",
    "wv_mpqueue_qsize",
    "wv_mpqueue_is_empty",
    "wv_mpqueue_is_full",
    "wv_mpqueue_name",
    "wv_mpqueue_free",
    "wv_task_return",
    "wv_task_index",
    "wv_pool_new",
    "wv_pool_apply_async",
    "wv_pool_apply",
    "wv_pool_map",
    "wv_pool_map_async",
    "wv_pool_imap",
    "wv_pool_imap_unordered",
    "wv_imap_next",
    "wv_imap_free",
    "wv_pool_close",
    "wv_pool_terminate",
    "wv_pool_join",
    "wv_pool_free",
    "wv_pool_workers",
    "wv_process_start",
    "wv_process_join",
    "wv_process_is_alive",
    "wv_process_exitcode",
    "wv_process_pid",
    "wv_process_name",
    "wv_process_send_signal",
    "wv_process_terminate",
    "wv_process_kill",
    "wv_process_free",
    "wv_queue_new",
    "wv_queue_free",
    "wv_queue_put",
    "wv_queue_get",
    "wv_queue_get_many",
    "wv_queue_qsize",
    "wv_queue_is_empty",
    "wv_queue_is_full",
    "wv_queue_task_done",
    "wv_queue_join",
    "wv_queue_shutdown",
    "wv_queue_is_shutdown",
    "wv_future_new",
    "wv_future_ref",
    "wv_future_unref",
    "wv_future_set_result",
    "wv_future_set_error",
    "wv_future_set_running",
    "wv_future_cancel",
    "wv_future_is_ready",
    "wv_future_is_successful",
    "wv_future_is_cancelled",
    "wv_future_is_running",
    "wv_future_wait",
    "wv_future_get",
    "wv_future_error",
    "wv_future_add_done_callback",
    "wv_popen_new",
    "wv_popen_communicate",
    "wv_popen_wait",
    "wv_popen_poll",
    "wv_popen_returncode",
    "wv_popen_pid",
    "wv_popen_fd",
    "wv_popen_write",
    "wv_popen_read",
    "wv_popen_close_stdin",
    "wv_popen_send_signal",
    "wv_popen_terminate",
    "wv_popen_kill",
    "wv_popen_free",
    "wv_subprocess_run",
    "wv_subprocess_check_output",
    "wv_thread_start",
    "wv_thread_join",
    "wv_thread_free",
    "wv_thread_is_alive",
    "wv_thread_name",
    "wv_thread_native_id",
    "wv_lock_init",
    "wv_lock_destroy",
    "wv_lock_acquire",
    "wv_lock_release",
    "wv_lock_is_locked",
    "wv_rlock_init",
    "wv_rlock_destroy",
    "wv_rlock_acquire",
    "wv_rlock_release",
    "wv_rlock_is_owned",
    "wv_cond_init",
    "wv_cond_destroy",
    "wv_cond_wait",
    "wv_cond_wait_rlock",
    "wv_cond_wait_for",
    "wv_cond_wait_for_rlock",
    "wv_cond_notify",
    "wv_cond_notify_all",
    "wv_sem_init",
    "wv_sem_init_bounded",
    "wv_sem_destroy",
    "wv_sem_acquire",
    "wv_sem_release",
    "wv_sem_value",
    "wv_event_init",
    "wv_event_destroy",
    "wv_event_set",
    "wv_event_clear",
    "wv_event_is_set",
    "wv_event_wait",
    "wv_barrier_init",
    "wv_barrier_destroy",
    "wv_barrier_wait",
    "wv_barrier_abort",
    "wv_barrier_reset",
    "wv_barrier_parties",
    "wv_barrier_n_waiting",
    "wv_barrier_is_broken",
    "wv_once",
    "wv_once_is_done",
    "wv_local_init",
    "wv_local_destroy",
    "wv_local_get",
    "wv_local_set",
    "wv_timer_start",
    "wv_timer_cancel",
    "wv_timer_join",
    "wv_timer_free",
    "wv_addr_from_ip",
    "wv_addr_from_unix",
    "wv_addr_format",
    "wv_addr_family",
    "wv_addr_port",
    "wv_getaddrinfo",
    "wv_addrinfo_free",
    "wv_sock_adopt",
    "wv_sock_pair",
    "wv_sock_fd",
    "wv_sock_close",
    "wv_sock_free",
    "wv_sock_local_addr",
    "wv_sock_peer_addr",
    "wv_sock_connect",
    "wv_tcp_connect",
    "wv_sock_listen",
    "wv_sock_accept",
    "wv_sock_shutdown",
    "wv_sock_send",
    "wv_sock_sendall",
    "wv_sock_recv",
    "wv_sock_sendto",
    "wv_sock_recvfrom",
    "wv_sock_send_fds",
    "wv_sock_recv_fds",
    "wv_sock_sendfile",
    "wv_udp_new",
    "wv_sock_join_group",
    "wv_sock_leave_group",
    "wv_sock_set_nodelay",
    "wv_sock_set_keepalive",
    "wv_sock_set_reuseaddr",
    "wv_sock_set_reuseport",
    "wv_sock_set_sndbuf",
    "wv_sock_set_rcvbuf",
    "wv_sock_set_broadcast",
};

/* Runs every case of a table, each in a child of its own (a crash is one
 * case's failure, not the program's); returns how many broke. */
static int run_table(int (*run)(int), const char *const *names, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        WVT_ASSERT(pid >= 0);
        if (pid == 0)
            _exit(run(i) == 1 ? 0 : 1);
        int st;
        WVT_EQ(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "NULL object: %s %s\n", names[i],
                    WIFSIGNALED(st) ? "crashed" : "broke its promise");
            bad++;
        }
    }
    return bad;
}

WVT_TEST(api_null_objects_every_call)
{
    int n = (int)(sizeof case_names / sizeof *case_names);
    WVT_EQ(run_table(run_case, case_names, n), 0);
}

/* Streams (weave/stream.h): the same promises, in a table of their own so
 * that the layers merged beside it keep their numbering. */
static int run_stream_case(int i)
{
    size_t n = 1;
    const void *p = &n;
    char c;
    switch (i) {
    case 0:
        return wv_stream_new(NULL, NULL, 0) == WV_EINVAL;
    case 1:
        wv_stream_free(NULL);
        return 1;
    case 2:
        return wv_stream_read(NULL, &c, 1, &n, 0) == WV_EINVAL;
    case 3:
        return wv_stream_read_exactly(NULL, &c, 1, &n, 0) == WV_EINVAL;
    case 4:
        return wv_stream_read_until(NULL, "\n", 1, &c, 1, &n, 0) == WV_EINVAL;
    case 5:
        return wv_stream_readline(NULL, &c, 1, &n, 0) == WV_EINVAL;
    case 6:
        return wv_stream_peek(NULL, &p, &n, 0) == WV_EINVAL;
    case 7:
        return wv_stream_peek_until(NULL, "\n", 1, &p, &n, 0) == WV_EINVAL;
    case 8:
        return wv_stream_consume(NULL, 0) == WV_EINVAL;
    case 9:
        return !wv_stream_at_eof(NULL);
    case 10:
        return wv_stream_write(NULL, "x", 1, &n, 0) == WV_EINVAL && n == 0;
    case 11:
        return wv_stream_drain(NULL, 0) == WV_EINVAL;
    case 12:
        return wv_stream_write_pending(NULL) == 0;
    case 13:
        return wv_stream_write_eof(NULL, 0) == WV_EINVAL;
    case 14:
        return wv_stream_close(NULL, 0) == WV_EINVAL;
    case 15:
        return wv_stream_fileno(NULL) == WV_EINVAL;
    case 16:
        return wv_stream_read_pending(NULL) == 0;
    }
    return -1;
}

static const char *const stream_case_names[] = {
    "wv_stream_new",           "wv_stream_free",         "wv_stream_read",
    "wv_stream_read_exactly",  "wv_stream_read_until",   "wv_stream_readline",
    "wv_stream_peek",          "wv_stream_peek_until",   "wv_stream_consume",
    "wv_stream_at_eof",        "wv_stream_write",        "wv_stream_drain",
    "wv_stream_write_pending", "wv_stream_write_eof",    "wv_stream_close",
    "wv_stream_fileno",        "wv_stream_read_pending",
};

WVT_TEST(api_null_objects_stream_calls)
{
    int n = (int)(sizeof stream_case_names / sizeof *stream_case_names);
    WVT_EQ(run_table(run_stream_case, stream_case_names, n), 0);
}

/* TLS (weave/tls.h): the same promises, in a table of their own. */
static int run_tls_case(int i)
{
    wv_stream_t *s = NULL;
    char buf[8];
    switch (i) {
    case 0:
        return wv_tls_ctx_new(NULL, NULL) == WV_EINVAL;
    case 1:
        wv_tls_ctx_free(NULL);
        return 1;
    case 2:
        return wv_tls_client(NULL, NULL, NULL, 0, "x", 0) == WV_EINVAL &&
               wv_tls_client(&s, NULL, NULL, 0, "x", 0) == WV_EINVAL &&
               s == NULL;
    case 3:
        return wv_tls_server(NULL, NULL, NULL, 0, 0) == WV_EINVAL &&
               wv_tls_server(&s, NULL, NULL, 0, 0) == WV_EINVAL && s == NULL;
    case 4:
        return !wv_tls_is_tls(NULL);
    case 5:
        return wv_tls_alpn(NULL) == NULL;
    case 6:
        return wv_tls_version(NULL) == NULL;
    case 7:
        return wv_tls_cipher(NULL) == NULL;
    case 8:
        return !wv_tls_is_resumed(NULL);
    case 9:
        return wv_tls_peer_subject(NULL, buf, sizeof buf) == WV_EINVAL;
    case 10:
        return wv_tls_error_reason() != NULL; /* takes no object */
    }
    return -1;
}

static const char *const tls_case_names[] = {
    "wv_tls_ctx_new",      "wv_tls_ctx_free",     "wv_tls_client",
    "wv_tls_server",       "wv_tls_is_tls",       "wv_tls_alpn",
    "wv_tls_version",      "wv_tls_cipher",       "wv_tls_is_resumed",
    "wv_tls_peer_subject", "wv_tls_error_reason",
};

WVT_TEST(api_null_objects_tls_calls)
{
    int n = (int)(sizeof tls_case_names / sizeof *tls_case_names);
    WVT_EQ(run_table(run_tls_case, tls_case_names, n), 0);
}

/* Servers (weave/net.h): the same promises, in a table of their own. */
static int run_server_case(int i)
{
    wv_server_t *s = NULL;
    wv_addr_t a;
    switch (i) {
    case 0:
        return wv_server_new(NULL, NULL, NULL, NULL) == WV_EINVAL &&
               wv_server_new(&s, NULL, NULL, NULL) == WV_EINVAL && s == NULL;
    case 1:
        return wv_server_addr(NULL, &a) == WV_EINVAL;
    case 2:
        return wv_server_active(NULL) == 0;
    case 3:
        return wv_server_served(NULL) == 0;
    case 4:
        return wv_server_shed(NULL) == 0;
    case 5:
        return wv_server_stop(NULL, 0) == WV_EINVAL;
    case 6:
        wv_server_free(NULL);
        return 1;
    }
    return -1;
}

static const char *const server_case_names[] = {
    "wv_server_new",  "wv_server_addr", "wv_server_active", "wv_server_served",
    "wv_server_shed", "wv_server_stop", "wv_server_free",
};

WVT_TEST(api_null_objects_server_calls)
{
    int n = (int)(sizeof server_case_names / sizeof *server_case_names);
    WVT_EQ(run_table(run_server_case, server_case_names, n), 0);
}

/* Inert values (weave/obj.h): the same promises. */
static int run_value_case(int i)
{
    wv_obj_t *v = NULL;
    int64_t n;
    char *s;
    size_t len;
    switch (i) {
    case 0:
        return wv_obj_new_none(NULL) == WV_EINVAL;
    case 1:
        return wv_obj_new_bool(NULL, true) == WV_EINVAL;
    case 2:
        return wv_obj_new_int(NULL, 1) == WV_EINVAL;
    case 3:
        return wv_obj_new_float(NULL, 1.0) == WV_EINVAL;
    case 4:
        return wv_obj_new_str(NULL, "a", 1) == WV_EINVAL;
    case 5:
        return wv_obj_new_bytes(NULL, "a", 1) == WV_EINVAL;
    case 6:
        return wv_obj_new_bytearray(NULL, "a", 1) == WV_EINVAL;
    case 7:
        return wv_obj_new_bigint(NULL, "a", 1) == WV_EINVAL;
    case 8:
        return wv_obj_new_tuple(NULL, 0) == WV_EINVAL;
    case 9:
        return wv_obj_new_list(NULL, 0) == WV_EINVAL;
    case 10:
        return wv_obj_new_dict(NULL, 0) == WV_EINVAL;
    case 11:
        return wv_obj_new_set(NULL, 0) == WV_EINVAL;
    case 12:
        return wv_obj_new_frozenset(NULL, 0) == WV_EINVAL;
    case 13:
        return wv_obj_new_global(NULL, "m", "n") == WV_EINVAL;
    case 14:
        return wv_obj_new_instance(&v, NULL, NULL, NULL, false) == WV_EINVAL;
    case 15:
        return wv_obj_new_exception(NULL, "m", "n", NULL) == WV_EINVAL;
    case 16:
        return wv_obj_ref(NULL) == NULL;
    case 17:
        wv_obj_free(NULL);
        return 1;
    case 18:
        return wv_obj_append(NULL, NULL) == WV_EINVAL;
    case 19:
        return wv_obj_dict_set(NULL, NULL, NULL) == WV_EINVAL;
    case 20:
        return wv_obj_dict_get(NULL, "k") == NULL;
    case 21:
        return wv_obj_dict_find(NULL, NULL) == NULL;
    case 22:
        return wv_obj_get_int(NULL, &n) == WV_EINVAL;
    case 23:
        return !wv_obj_equal(NULL, NULL);
    case 24:
        return wv_obj_hash(NULL) == 0;
    case 25:
        return !wv_obj_is_hashable(NULL);
    case 26:
        return !wv_obj_is_global(NULL, "m", "n");
    case 27:
        return wv_obj_repr(NULL, &s) == WV_EINVAL;
    case 28:
        return wv_pickle_loads(NULL, "N.", 2, NULL, NULL) == WV_EINVAL;
    case 29:
        return wv_pickle_dumps(NULL, 4, &s, &len) == WV_EINVAL;
    }
    return -1;
}

static const char *const value_case_names[] = {
    "wv_obj_new_none",      "wv_obj_new_bool",    "wv_obj_new_int",
    "wv_obj_new_float",     "wv_obj_new_str",     "wv_obj_new_bytes",
    "wv_obj_new_bytearray", "wv_obj_new_bigint",  "wv_obj_new_tuple",
    "wv_obj_new_list",      "wv_obj_new_dict",    "wv_obj_new_set",
    "wv_obj_new_frozenset", "wv_obj_new_global",  "wv_obj_new_instance",
    "wv_obj_new_exception", "wv_obj_ref",         "wv_obj_free",
    "wv_obj_append",        "wv_obj_dict_set",    "wv_obj_dict_get",
    "wv_obj_dict_find",     "wv_obj_get_int",     "wv_obj_equal",
    "wv_obj_hash",          "wv_obj_is_hashable", "wv_obj_is_global",
    "wv_obj_repr",          "wv_pickle_loads",    "wv_pickle_dumps",
};

WVT_TEST(api_null_objects_value_calls)
{
    int n = (int)(sizeof value_case_names / sizeof *value_case_names);
    WVT_EQ(run_table(run_value_case, value_case_names, n), 0);
}

/* Managers (weave/manager.h): the same promises. */
static int run_manager_case(int i)
{
    wv_manager_t *m = NULL;
    wv_proxy_t *p = NULL;
    wv_obj_t *v = NULL;
    wv_addr_t a;
    size_t n;
    uint64_t lease;
    switch (i) {
    case 0:
        return wv_manager_new(NULL, NULL) == WV_EINVAL;
    case 1:
        return wv_manager_register_queue(NULL, "q", 0) == WV_EINVAL;
    case 2:
        return wv_manager_register(NULL, "C", "f", NULL, NULL) == WV_EINVAL;
    case 3:
        return wv_manager_start(NULL) == WV_EINVAL;
    case 4:
        return wv_manager_addr(NULL, &a) == WV_EINVAL;
    case 5:
        return wv_manager_serve_forever(NULL, 0) == WV_EINVAL;
    case 6:
        return wv_manager_shutdown(NULL, 0) == WV_EINVAL;
    case 7:
        wv_manager_free(NULL);
        return 1;
    case 8:
        return wv_manager_connect(&m, NULL, 0) == WV_EINVAL && !m;
    case 9:
        return wv_manager_proxy(NULL, "q", &p, 0) == WV_EINVAL && !p;
    case 10:
        wv_proxy_free(NULL);
        return 1;
    case 11:
        return wv_proxy_put(NULL, v, 0) == WV_EINVAL;
    case 12:
        return wv_proxy_get(NULL, &v, 0) == WV_EINVAL && !v;
    case 13:
        return wv_proxy_put_many(NULL, &v, 1, &n, 0) == WV_EINVAL;
    case 14:
        return wv_proxy_get_many(NULL, &v, 1, &n, 0) == WV_EINVAL;
    case 15:
        return wv_proxy_qsize(NULL, &n, 0) == WV_EINVAL;
    case 16:
        return wv_proxy_task_done(NULL, 0) == WV_EINVAL;
    case 17:
        return wv_proxy_join(NULL, 0) == WV_EINVAL;
    case 18:
        return wv_proxy_get_leased(NULL, &v, &lease, 1, 0) == WV_EINVAL;
    case 19:
        return wv_proxy_ack(NULL, 1, 0) == WV_EINVAL;
    case 20:
        return wv_proxy_call(NULL, "f", NULL, NULL, &v, 0) == WV_EINVAL && !v;
    case 21:
        return wv_proxy_typeid(NULL) == NULL;
    case 22:
        return wv_proxy_ident(NULL) == NULL;
    case 23:
        return wv_manager_refused(NULL) == 0;
    case 24: {
        wv_manager_queue_stats_t st;
        return wv_manager_queue_stats(NULL, "q", &st) == WV_EINVAL;
    }
    case 25:
        return wv_manager_clients(NULL) == 0;
    case 26:
        return wv_proxy_renew(NULL, 1, 1, 0) == WV_EINVAL;
    }
    return -1;
}

static const char *const manager_case_names[] = {
    "wv_manager_new",         "wv_manager_register_queue",
    "wv_manager_register",    "wv_manager_start",
    "wv_manager_addr",        "wv_manager_serve_forever",
    "wv_manager_shutdown",    "wv_manager_free",
    "wv_manager_connect",     "wv_manager_proxy",
    "wv_proxy_free",          "wv_proxy_put",
    "wv_proxy_get",           "wv_proxy_put_many",
    "wv_proxy_get_many",      "wv_proxy_qsize",
    "wv_proxy_task_done",     "wv_proxy_join",
    "wv_proxy_get_leased",    "wv_proxy_ack",
    "wv_proxy_call",          "wv_proxy_typeid",
    "wv_proxy_ident",         "wv_manager_refused",
    "wv_manager_queue_stats", "wv_manager_clients",
    "wv_proxy_renew",
};

WVT_TEST(api_null_objects_manager_calls)
{
    int n = (int)(sizeof manager_case_names / sizeof *manager_case_names);
    WVT_EQ(run_table(run_manager_case, manager_case_names, n), 0);
}
