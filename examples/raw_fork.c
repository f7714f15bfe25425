/*
 * The tutorials' os.fork scene:
 *
 *     print('Process (%s) start...' % os.getpid())
 *     pid = os.fork()
 *     if pid == 0:
 *         print('I am child process (%s) and my parent is %s.'
 *               % (os.getpid(), os.getppid()))
 *     else:
 *         print('I (%s) just created a child process (%s).'
 *               % (os.getpid(), pid))
 *
 * wv_fork flushes stdio first, so the first line is not printed twice.
 * The parent also waits for the child here (Python leaves that out).
 */
#include <weave.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    printf("Process (%d) start...\n", getpid());
    int pid = wv_fork();
    if (pid < 0) {
        fprintf(stderr, "fork: %s\n", wv_strerror(pid));
        return 1;
    }
    if (pid == 0) {
        printf("I am child process (%d) and my parent is %d.\n", getpid(),
               getppid());
        fflush(stdout);
        _exit(0);
    }
    printf("I (%d) just created a child process (%d).\n", getpid(), pid);
    fflush(stdout);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
