/*
 * A duplex Pipe conversation between a parent and a child:
 *
 *     def child(conn):
 *         while True:
 *             msg = conn.recv()
 *             if msg == 'bye':
 *                 conn.send('bye')
 *                 break
 *             conn.send(msg.upper())
 *
 *     a, b = Pipe()            # duplex
 *     p = Process(target=child, args=(b,))
 *     p.start()
 *     for word in ['hello', 'weave', 'pipes']:
 *         a.send(word)
 *         print('parent got', a.recv())
 *     a.send('bye'); print('parent got', a.recv())
 *     p.join()
 *
 * Each side closes the end it does not use (the fork gave it both).
 */
#include <weave.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static wv_conn_t *a, *b;

static int child(void *arg)
{
    char msg[64];
    size_t len;

    wv_conn_free(a);
    for (;;) {
        if (wv_conn_recv(b, msg, sizeof msg, &len, WV_FOREVER))
            return 1;
        if (len == 3 && memcmp(msg, "bye", 3) == 0)
            return wv_conn_send(b, "bye", 3, WV_FOREVER) ? 1 : 0;
        for (size_t i = 0; i < len; i++)
            msg[i] = (char)toupper((unsigned char)msg[i]);
        printf("child got a word, sends back %.*s\n", (int)len, msg);
        fflush(stdout);
        if (wv_conn_send(b, msg, len, WV_FOREVER))
            return 1;
    }
}

static int talk(const char *word)
{
    char reply[64];
    size_t len;
    int err = wv_conn_send(a, word, strlen(word), WV_FOREVER);
    if (!err)
        err = wv_conn_recv(a, reply, sizeof reply, &len, wv_deadline_in(5000));
    if (err) {
        fprintf(stderr, "pipe: %s\n", wv_strerror(err));
        return 1;
    }
    printf("parent got %.*s\n", (int)len, reply);
    fflush(stdout);
    return 0;
}

int main(void)
{
    wv_process_t *p;
    int code;

    if (wv_pipe(&a, &b, true) || wv_process_start(&p, NULL, child, NULL))
        return 1;
    wv_conn_free(b);
    const char *words[] = {"hello", "weave", "pipes", "bye"};
    for (int i = 0; i < 4; i++)
        if (talk(words[i]))
            return 1;
    if (wv_process_join(p, &code, WV_FOREVER))
        return 1;
    wv_process_free(p);
    wv_conn_free(a);
    printf("child exited with %d\n", code);
    return code;
}
