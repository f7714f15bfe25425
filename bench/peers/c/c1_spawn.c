/*
 * bench/peers/c/c1_spawn.c - C1's floor, `c-vfork-j2`: the least a runner
 * of commands can do.  Reads one input per line on standard input and
 * runs `COMMAND INPUT` for each, J at a time: vfork (no page-table copy,
 * and none of the signal resetting or stack mapping of glibc's
 * posix_spawn, which measured slower here) and execv in the child,
 * wait() in the parent; the output inherited (nothing captured, kept
 * together or ordered), no process group, no timeout, no retry, no
 * progress, no joblog.  It is not a competitor but a floor: what a
 * runner that does nothing but start and reap the jobs pays, nearly all
 * of it the jobs' own start-up.
 * Usage: peer-c-c1 J COMMAND < inputs
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3 || atoi(argv[1]) < 1) {
        fprintf(stderr, "usage: peer-c-c1 J COMMAND < inputs\n");
        return 2;
    }
    int jobs = atoi(argv[1]), running = 0, failed = 0;
    char line[4096];
    bool more = true;

    while (more || running > 0) {
        while (more && running < jobs) {
            if (!fgets(line, sizeof line, stdin)) {
                more = false;
                break;
            }
            line[strcspn(line, "\n")] = '\0';
            char *av[] = {argv[2], line, NULL};
            pid_t pid = vfork();
            if (pid == 0) {
                execv(argv[2], av);
                _exit(127);
            }
            if (pid < 0) {
                perror("peer-c-c1: vfork");
                return 2;
            }
            running++;
        }
        if (running == 0)
            break;
        int status;
        if (wait(&status) < 0) {
            if (errno == EINTR)
                continue;
            perror("peer-c-c1: wait");
            return 2;
        }
        running--;
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    return failed > 101 ? 101 : failed;
}
