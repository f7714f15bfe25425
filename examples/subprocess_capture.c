/*
 * The tutorials' ping scene: run a command, capture its output, pull a
 * figure out of it with a pattern.  ping is not on every machine; df is:
 *
 *     o = subprocess.Popen(['df', '-P', '/'], stdout=subprocess.PIPE)
 *     out = o.communicate()[0].decode()
 *     used = re.search(r'\d+%', out).group()
 *
 * here through run/check_output, with a deadline, and POSIX regex.h.
 */
#include <weave.h>

#include <regex.h>
#include <stdio.h>

int main(void)
{
    static const char *argv[] = {"df", "-P", "/", NULL};
    wv_popen_opts_t opts = {.argv = argv};
    wv_completed_t res;
    regex_t re;
    regmatch_t m;
    int rc;

    printf("$ df -P /\n");
    rc =
        wv_subprocess_check_output(&opts, NULL, 0, &res,
                                   wv_deadline_in(10000));
    if (rc != 0) {
        fprintf(stderr, "df: %s\n", wv_strerror(rc));
        wv_completed_free(&res);
        return 1;
    }
    printf("%s", res.out);
    if (regcomp(&re, "[0-9]+%", REG_EXTENDED) != 0 ||
        regexec(&re, res.out, 1, &m, 0) != 0) {
        fprintf(stderr, "no percentage in df's output\n");
        return 1;
    }
    printf("Used: %.*s\n", (int)(m.rm_eo - m.rm_so), res.out + m.rm_so);
    printf("Exit code: %d\n", res.returncode);
    regfree(&re);
    wv_completed_free(&res);
    return 0;
}
