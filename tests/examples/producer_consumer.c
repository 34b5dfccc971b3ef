/*
 * producer_consumer.c - the producer/consumer program of Python's
 * multiprocessing tutorials, in C with sharr:
 *
 *     def worker(tasks, results):
 *         for task in iter(tasks.get, 'STOP'):
 *             results.put(calculate(task))
 *
 *     tasks, results = Queue(), Queue()
 *     for t in TASKS: tasks.put(t)
 *     for i in range(NUMBER_OF_PROCESSES):
 *         Process(target=worker, args=(tasks, results)).start()
 *     for i in range(len(TASKS)): print(results.get())
 *     for i in range(NUMBER_OF_PROCESSES): tasks.put('STOP')
 *
 * Here a task is a block of rows of a shared array (a sharr_work record:
 * the array's name and a row range, never the data), the workers attach
 * to the queues and the array by name, a sentinel record with no array
 * stops each one, and the results come back on a second queue.  Every
 * object is temporary too: nothing is left in /dev/shm even if this
 * program is killed.  It checks its own answer and exits 0 only if it is right.
 *
 * Build: cc -Iinclude producer_consumer.c lib/libsharr.a -lpthread -lm
 */
#define _GNU_SOURCE
#include "sharr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ROWS = 1000, COLS = 100, BLOCK = 50, WORKERS = 3 };

static char tasks_name[64], results_name[64], data_name[64];

static void die(const char *what, int err)
{
    fprintf(stderr, "producer_consumer: %s: %s (%s)\n", what,
            sharr_errmsg(), sharr_strerror(err));
    exit(1);
}

/* calculate(task): the sum of rows [row_start, row_end) of the array. */
static double calculate(const sharr_work *task)
{
    sharr_array *a;
    double sum = 0;
    int err = sharr_array_open(task->array, SHARR_OPEN_RDONLY, &a);

    if (err < 0)
        die("open the array", err);
    const double *x = sharr_array_data(a);
    for (size_t r = task->row_start; r < task->row_end; r++)
        for (size_t c = 0; c < COLS; c++)
            sum += x[r * COLS + c];
    sharr_array_close(a);
    return sum;
}

/* worker(tasks, results), in its own process: attaches by name. */
static int worker(void)
{
    sharr_queue *tasks, *results;
    sharr_work task;
    int err;

    if ((err = sharr_queue_open(tasks_name, 0, &tasks)) < 0 ||
        (err = sharr_queue_open(results_name, 0, &results)) < 0)
        die("worker: open the queues", err);
    while ((err = sharr_queue_get_work(tasks, &task, 30)) == 0 &&
           task.array[0] != '\0') { /* no array: the sentinel, 'STOP' */
        sharr_work result = {.tag = task.tag, .i = {getpid()},
                             .d = {calculate(&task)}};
        if ((err = sharr_queue_put_work(results, &result, 30)) < 0)
            die("worker: put a result", err);
    }
    if (err < 0)
        die("worker: get a task", err);
    sharr_queue_close(tasks);
    sharr_queue_close(results);
    return 0;
}

static void make_objects(sharr_queue **tasks, sharr_queue **results)
{
    sharr_create_opts temp = {.flags = SHARR_CREATE_TEMP};
    size_t shape[2] = {ROWS, COLS};
    sharr_fill_spec range = {.kind = SHARR_FILL_RANGE};
    sharr_array *a;
    int err;

    snprintf(tasks_name, sizeof tasks_name, "te.%d.tasks", (int)getpid());
    snprintf(results_name, sizeof results_name, "te.%d.results",
             (int)getpid());
    snprintf(data_name, sizeof data_name, "te.%d.data", (int)getpid());
    if ((err = sharr_array_create(data_name, SHARR_F64, 2, shape, &temp,
                                  &a)) < 0 ||
        (err = sharr_fill(NULL, a, &range, NULL)) < 0)
        die("create the array", err);
    sharr_array_close(a);
    if ((err = sharr_queue_create(tasks_name, 0, 0, &temp, tasks)) < 0 ||
        (err = sharr_queue_create(results_name, 0, 0, &temp, results)) < 0)
        die("create the queues", err);
}

int main(void)
{
    sharr_queue *tasks, *results;
    pid_t pids[WORKERS];
    double got[ROWS / BLOCK];
    int err, ntasks = ROWS / BLOCK, by_worker[WORKERS] = {0};

    make_objects(&tasks, &results);
    for (int t = 0; t < ntasks; t++) {
        sharr_work task = {.row_start = (size_t)t * BLOCK,
                           .row_end = (size_t)(t + 1) * BLOCK, .tag = t};
        snprintf(task.array, sizeof task.array, "%s", data_name);
        if ((err = sharr_queue_put_work(tasks, &task, 30)) < 0)
            die("put a task", err);
    }
    for (int w = 0; w < WORKERS; w++) {
        fflush(NULL);
        if ((pids[w] = fork()) < 0)
            die("fork", -1);
        if (pids[w] == 0)
            _exit(worker());
    }
    for (int i = 0; i < ntasks; i++) {
        sharr_work r;
        if ((err = sharr_queue_get_work(results, &r, 30)) < 0)
            die("get a result", err);
        got[r.tag] = r.d[0];
        for (int w = 0; w < WORKERS; w++)
            by_worker[w] += r.i[0] == pids[w];
        printf("rows %4lld..%4lld: sum %.0f (worker %lld)\n",
               (long long)r.tag * BLOCK, (long long)(r.tag + 1) * BLOCK - 1,
               r.d[0], (long long)r.i[0]);
    }
    for (int w = 0; w < WORKERS; w++) { /* tasks.put('STOP') */
        sharr_work stop = {.tag = -1};
        if ((err = sharr_queue_put_work(tasks, &stop, 30)) < 0)
            die("put a sentinel", err);
    }
    int bad = 0;
    for (int w = 0; w < WORKERS; w++) {
        int st;
        waitpid(pids[w], &st, 0);
        bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    /* Element k of the array is k: rows r0..r1-1 sum to the integers
     * r0*COLS .. r1*COLS-1. */
    for (int t = 0; t < ntasks; t++) {
        double lo = (double)t * BLOCK * COLS, n = (double)BLOCK * COLS;
        bad += got[t] != n * lo + n * (n - 1) / 2;
    }
    printf("%d tasks by %d workers (%d, %d, %d each): %s\n", ntasks, WORKERS,
           by_worker[0], by_worker[1], by_worker[2], bad ? "WRONG" : "ok");
    sharr_queue_close(tasks);
    sharr_queue_close(results);
    /* Temporary objects go when this process exits, however it exits;
     * removing them now frees the memory before that. */
    sharr_unlink(tasks_name);
    sharr_unlink(results_name);
    sharr_unlink(data_name);
    return bad ? 1 : 0;
}
