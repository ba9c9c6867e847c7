/* The processes of a sandbox, as the host sees them, and what they hold open. */
#include "internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/fsutil.h"
#include "sandbox.h"

/* Appends the children of every thread of `pid` to the list (at most `cap` in all). */
static void add_children(pid_t pid, pid_t *list, size_t *n, size_t cap)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[96]; /* a thread's folder is named by its id */
        snprintf(path, sizeof path, "/proc/%d/task/%.20s/children", (int)pid, e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        int child;
        while (*n < cap && fscanf(f, "%d", &child) == 1)
            list[(*n)++] = child;
        fclose(f);
    }
    closedir(d);
}

pid_t *lbox_sandbox_pids(struct lbox_sandbox *sb, size_t *n)
{
    /* Breadth first from pid 1; the process limit (nproc 1024) bounds the tree. */
    enum { MAX_PROCS = 4096 };
    pid_t *list = lbox_xcalloc(MAX_PROCS, sizeof *list);
    *n = 0;
    if (sb->init_pid <= 0)
        return list;
    list[(*n)++] = sb->init_pid;
    for (size_t i = 0; i < *n; i++)
        add_children(list[i], list, n, MAX_PROCS);
    return list;
}

struct held_file {
    ino_t ino;
    uint64_t bytes;
};

static int by_inode(const void *a, const void *b)
{
    ino_t x = ((const struct held_file *)a)->ino, y = ((const struct held_file *)b)->ino;
    return x < y ? -1 : x > y;
}

uint64_t lbox_sandbox_unlinked_bytes(struct lbox_sandbox *sb, dev_t dev)
{
    size_t npids, n = 0, cap = 0;
    pid_t *pids = lbox_sandbox_pids(sb, &npids);
    struct held_file *held = NULL;
    for (size_t i = 0; i < npids; i++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pids[i]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        for (struct dirent *e; (e = readdir(d));) {
            char path[96];
            struct stat st;
            snprintf(path, sizeof path, "%s/%.20s", dir, e->d_name);
            if (e->d_name[0] == '.' || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
                st.st_nlink != 0 || st.st_dev != dev)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                held = lbox_xrealloc(held, cap * sizeof *held);
            }
            held[n++] = (struct held_file){st.st_ino, (uint64_t)st.st_blocks * 512};
        }
        closedir(d);
    }
    /* One file open many times (dup'd, inherited) is counted once. */
    qsort(held, n, sizeof *held, by_inode);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || held[i].ino != held[i - 1].ino)
            total += held[i].bytes;
    free(held);
    free(pids);
    return total;
}
