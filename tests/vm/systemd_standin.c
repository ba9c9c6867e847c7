/* A stand-in for the user's systemd manager on a D-Bus bus, for the cgroup v2 VM test
 * (the guest runs no systemd). It answers StartTransientUnit as systemd does for a scope:
 * a cgroup named after the unit under SLICE, delegated to UID when Delegate=yes (the folder
 * and its cgroup.procs, cgroup.subtree_control and cgroup.threads), and the PIDs moved into
 * it. Running as root, it also does what systemd's user manager asks the system manager to
 * do for it: move a process out of a session scope that belongs to root. Each call is
 * logged to LOG as "<unit> delegate=<0|1> pids=<pid>...".
 *
 * usage: systemd_standin SLICE UID LOG READY   (DBUS_SESSION_BUS_ADDRESS names the bus;
 *        READY is created once the name org.freedesktop.systemd1 is ours) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

static const char *slice, *log_path;
static uid_t uid;

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    return n < 0 ? -e : 0;
}

static int start_transient_unit(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    (void)userdata;
    const char *unit, *mode;
    uint32_t pids[16];
    size_t npids = 0;
    int delegate = 0, r;
    if ((r = sd_bus_message_read(m, "ss", &unit, &mode)) < 0 ||
        (r = sd_bus_message_enter_container(m, 'a', "(sv)")) < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'r', "sv")) > 0) {
        const char *prop;
        if ((r = sd_bus_message_read(m, "s", &prop)) < 0)
            return r;
        if (!strcmp(prop, "PIDs")) {
            if ((r = sd_bus_message_enter_container(m, 'v', "au")) < 0 ||
                (r = sd_bus_message_enter_container(m, 'a', "u")) < 0)
                return r;
            uint32_t pid;
            while ((r = sd_bus_message_read(m, "u", &pid)) > 0)
                if (npids < sizeof pids / sizeof pids[0])
                    pids[npids++] = pid;
            if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0 ||
                (r = sd_bus_message_exit_container(m)) < 0)
                return r;
        } else if (!strcmp(prop, "Delegate")) {
            if ((r = sd_bus_message_read(m, "v", "b", &delegate)) < 0)
                return r;
        } else if ((r = sd_bus_message_skip(m, "v")) < 0) {
            return r;
        }
        if ((r = sd_bus_message_exit_container(m)) < 0)
            return r;
    }
    if (r < 0)
        return r;

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", slice, unit);
    if (mkdir(dir, 0755) < 0)
        return sd_bus_error_setf(error, "org.freedesktop.systemd1.UnitExists",
                                 "cannot make %s: %s", dir, strerror(errno));
    if (delegate) {
        const char *files[] = {"", "/cgroup.procs", "/cgroup.subtree_control",
                               "/cgroup.threads"};
        for (size_t i = 0; i < 4; i++) {
            char path[4200];
            snprintf(path, sizeof path, "%s%s", dir, files[i]);
            if (chown(path, uid, uid) < 0)
                return sd_bus_error_set_errno(error, errno);
        }
    }
    FILE *log = fopen(log_path, "ae");
    if (log)
        fprintf(log, "%s delegate=%d pids=", unit, delegate);
    for (size_t i = 0; i < npids; i++) {
        char num[16];
        snprintf(num, sizeof num, "%u", pids[i]);
        if ((r = write_file(dir, "cgroup.procs", num)) < 0) {
            if (log)
                fclose(log);
            return sd_bus_error_set_errno(error, -r);
        }
        if (log)
            fprintf(log, "%s%s", i ? "," : "", num);
    }
    if (log) {
        fputc('\n', log);
        fclose(log);
    }
    return sd_bus_reply_method_return(m, "o", "/org/freedesktop/systemd1/job/1");
}

static const sd_bus_vtable manager[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("StartTransientUnit", "ssa(sv)a(sa(sv))", "o", start_transient_unit,
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s SLICE UID LOG READY\n", argv[0]);
        return 2;
    }
    slice = argv[1];
    uid = (uid_t)strtoul(argv[2], NULL, 10);
    log_path = argv[3];
    sd_bus *bus = NULL;
    int r = sd_bus_open_user(&bus);
    if (r >= 0)
        r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", manager, NULL);
    if (r >= 0)
        r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0);
    if (r < 0) {
        fprintf(stderr, "systemd_standin: %s\n", strerror(-r));
        return 1;
    }
    int ready = open(argv[4], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (ready >= 0)
        close(ready);
    for (;;) {
        r = sd_bus_process(bus, NULL);
        if (r < 0) {
            fprintf(stderr, "systemd_standin: %s\n", strerror(-r));
            return 1;
        }
        if (r == 0 && sd_bus_wait(bus, (uint64_t)-1) < 0)
            return 1;
    }
}
