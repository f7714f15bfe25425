/*
 * The tutorials' subprocess scene, with sh instead of nslookup (sh is on
 * every machine):
 *
 *     print('$ sh')
 *     p = subprocess.Popen(['sh'], stdin=subprocess.PIPE,
 *                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
 *     output, err = p.communicate(b'echo hello from sh\nexpr 6 \\* 7\nexit\n')
 *     print(output.decode('utf-8'))
 *     print('Exit code:', p.returncode)
 */
#include <weave.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    static const char *argv[] = {"sh", NULL};
    static const char input[] = "echo hello from sh\n"
                                "expr 6 \\* 7\n"
                                "echo to stderr >&2\n"
                                "exit 3\n";
    wv_popen_opts_t opts = {.argv = argv};
    wv_popen_t *p;
    wv_bytes_t out, err;
    int code, rc;

    opts.in.how = opts.out.how = opts.err.how = WV_STDIO_PIPE;
    printf("$ sh\n");
    if ((rc = wv_popen_new(&p, &opts)) != 0 ||
        (rc = wv_popen_communicate(p, input, strlen(input), &out, &err, WV_FOREVER)) != 0 ||
        (rc = wv_popen_returncode(p, &code)) != 0) {
        fprintf(stderr, "sh: %s\n", wv_strerror(rc));
        return 1;
    }
    printf("%s\n", out.data);
    printf("stderr: %s", err.data);
    printf("Exit code: %d\n", code);
    wv_popen_free(p);
    return 0;
}
