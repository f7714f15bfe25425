/*
 * The tutorials' two downloads in two processes:
 *
 *     def download_task(filename):
 *         print('启动下载进程，进程号[%d].' % getpid())
 *         print('开始下载%s...' % filename)
 *         time_to_download = randint(5, 10)
 *         sleep(time_to_download)
 *         print('%s下载完成! 耗费了%d秒' % (filename, time_to_download))
 *
 *     start = time()
 *     p1 = Process(target=download_task, args=('Python从入门到放弃.pdf', ))
 *     p1.start()
 *     p2 = Process(target=download_task, args=('图解算法.pdf', ))
 *     p2.start()
 *     p1.join()
 *     p2.join()
 *     print('总共耗费了%.2f秒.' % (end - start))
 *
 * Seconds become tenths of a second.  Both downloads run at once: the
 * whole takes about as long as the longer one, not the sum; the program
 * checks it, with a generous margin.
 */
#include <weave.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int download_task(void *arg)
{
    const char *filename = arg;
    printf("启动下载进程，进程号[%d].\n", getpid());
    printf("开始下载%s...\n", filename);
    srand((unsigned)getpid());
    int tenths = 5 + rand() % 6; /* randint(5, 10), in tenths */
    wv_sleep_ms(tenths * 100);
    printf("%s下载完成! 耗费了%d.%d秒\n", filename, tenths / 10, tenths % 10);
    return tenths;
}

int main(void)
{
    wv_process_t *p1, *p2;
    int t1, t2;

    setvbuf(stdout, NULL, _IOLBF, 0);
    int64_t start = wv_now();
    if (wv_process_start(&p1, NULL, download_task, "Python从入门到放弃.pdf") ||
        wv_process_start(&p2, NULL, download_task, "图解算法.pdf") ||
        wv_process_join(p1, &t1, WV_FOREVER) ||
        wv_process_join(p2, &t2, WV_FOREVER))
        return 1;
    double total = (double)(wv_now() - start) / 1000;
    wv_process_free(p1);
    wv_process_free(p2);
    printf("总共耗费了%.2f秒.\n", total);
    int longer = t1 > t2 ? t1 : t2;
    /* In parallel: well under the sum (at least 1.0 s) when the longer
     * took at most 1.0 s. */
    bool parallel = total < (longer + (t1 + t2 - longer) * 0.8) / 10.0;
    printf("%s\n", parallel ? "两个下载同时进行." : "NOT in parallel");
    return parallel ? 0 : 1;
}
