/*
 * cli/task.c - tasks and results as they travel (docs/cli.md, "Tasks and
 * results"): plain Python values that a Python program writes and reads
 * without weave.  A task is a str (a /bin/sh -c line) or a dict with a
 * 'cmd' str (weave submit writes {'id': int, 'cmd': str, 'batch': str});
 * a result is a dict: the task's own entries, then what the run gave.
 */
#include "remote.h"

#include <string.h>

/* dict[key] = v, taking over v (freed on failure). */
static int set(wv_obj_t *dict, const char *key, wv_obj_t *v)
{
    wv_obj_t *k;
    if (!v)
        return WV_ENOMEM;
    int err = wv_obj_new_str(&k, key, strlen(key));
    if (err) {
        wv_obj_free(v);
        return err;
    }
    if ((err = wv_obj_dict_set(dict, k, v))) {
        wv_obj_free(k);
        wv_obj_free(v);
    }
    return err;
}

static wv_obj_t *str(const char *s)
{
    wv_obj_t *v;
    return wv_obj_new_str(&v, s, strlen(s)) ? NULL : v;
}

static wv_obj_t *integer(int64_t i)
{
    wv_obj_t *v;
    return wv_obj_new_int(&v, i) ? NULL : v;
}

static wv_obj_t *none(void)
{
    wv_obj_t *v;
    return wv_obj_new_none(&v) ? NULL : v;
}

int cli_task_new(wv_obj_t **out, uint64_t id, const char *cmd,
                 const char *batch)
{
    wv_obj_t *t;
    int err = wv_obj_new_dict(&t, 3);
    if (err)
        return err;
    if ((err = set(t, "id", integer((int64_t)id))) ||
        (err = set(t, "cmd", str(cmd))) ||
        (err = set(t, "batch", str(batch)))) {
        wv_obj_free(t);
        return err;
    }
    *out = t;
    return 0;
}

const char *cli_task_cmd(const wv_obj_t *task)
{
    if (task && task->kind == WV_OBJ_STR)
        return task->u.s.data;
    const wv_obj_t *cmd = wv_obj_dict_get(task, "cmd");
    return cmd && cmd->kind == WV_OBJ_STR ? cmd->u.s.data : NULL;
}

/* The task's own entries: a dict's pairs, or a str's 'id' and 'cmd'. */
static int copy_task(wv_obj_t *r, const wv_obj_t *task)
{
    if (task->kind != WV_OBJ_DICT) {
        int err = set(r, "id", none());
        return err ? err : set(r, "cmd", wv_obj_ref((wv_obj_t *)task));
    }
    for (size_t i = 0; i < task->u.seq.len; i++) {
        wv_obj_t *k = wv_obj_ref(task->u.seq.items[2 * i]);
        wv_obj_t *v = wv_obj_ref(task->u.seq.items[2 * i + 1]);
        int err = wv_obj_dict_set(r, k, v);
        if (err) {
            wv_obj_free(k);
            wv_obj_free(v);
            return err;
        }
    }
    return 0;
}

int cli_result_new(wv_obj_t **out, const wv_obj_t *task, const cli_run_t *run,
                   const char *host, const char *worker)
{
    wv_obj_t *r, *v;
    int err = wv_obj_new_dict(&r, 12);
    if (err)
        return err;
    if ((err = copy_task(r, task)))
        goto fail;
    if ((err = set(r, "exit", run->signal ? none() : integer(run->exitval))) ||
        (err = set(r, "signal", run->signal ? integer(run->signal) : none())))
        goto fail;
    if ((err = wv_obj_new_float(&v, run->seconds)) || (err = set(r, "time", v)))
        goto fail;
    if ((err = wv_obj_new_bytes(&v, run->out, run->out_len)) ||
        (err = set(r, "stdout", v)))
        goto fail;
    if ((err = wv_obj_new_bytes(&v, run->err, run->err_len)) ||
        (err = set(r, "stderr", v)))
        goto fail;
    if ((err = wv_obj_new_bool(&v, run->timed_out)) ||
        (err = set(r, "timed_out", v)))
        goto fail;
    if ((err = set(r, "host", str(host))) ||
        (err = set(r, "worker", str(worker))))
        goto fail;
    *out = r;
    return 0;
fail:
    wv_obj_free(r);
    return err;
}
