/* sandbox/systemd_scope.c where no systemd answers: when a user bus counts as there, and
 * what lbox says when asking for a scope fails. (The call itself, against a stand-in for
 * systemd, is in tests/integration/invoke_cgroup_v2.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/internal.h"
#include "skip_unless.h"

static char dir[] = "/tmp/lbox-sdscope-XXXXXX";

static void bus_present_from_the_environment(void **state)
{
    (void)state;
    unsetenv("DBUS_SESSION_BUS_ADDRESS");
    unsetenv("XDG_RUNTIME_DIR");
    assert_false(lbox_systemd_user_bus_present());
    setenv("XDG_RUNTIME_DIR", dir, 1);
    assert_false(lbox_systemd_user_bus_present()); /* no bus socket in it */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/bus", dir);
    const char *path = sa.sun_path;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_true(lbox_systemd_user_bus_present());
    close(fd);
    unlink(path);
    unsetenv("XDG_RUNTIME_DIR");
    setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent", 1);
    assert_true(lbox_systemd_user_bus_present());
    unsetenv("DBUS_SESSION_BUS_ADDRESS");
}

/* A bus nobody listens on: a clear reason, and lbox stays where it was. */
static void a_dead_bus_is_named(void **state)
{
    (void)state;
    char path[256], before[1024], after[1024], why[512] = "";
    snprintf(path, sizeof path, "unix:path=%s/no-bus-here", dir);
    setenv("DBUS_SESSION_BUS_ADDRESS", path, 1);
    assert_int_equal(lbox_read_text("/proc/self/cgroup", before, sizeof before), 0);
    assert_int_equal(lbox_systemd_scope_enter(why, sizeof why), -1);
    assert_int_equal(lbox_read_text("/proc/self/cgroup", after, sizeof after), 0);
    assert_string_equal(before, after);
    assert_non_null(strstr(why, "connecting to the user's bus: "));
    unsetenv("DBUS_SESSION_BUS_ADDRESS");
}

/* A bus where the name org.freedesktop.systemd1 has no owner: systemd's error is passed
 * on. Needs dbus-daemon (scripts/install-deps.sh). */
static void a_bus_without_systemd_is_named(void **state)
{
    (void)state;
    SKIP_UNLESS(access("/usr/bin/dbus-daemon", X_OK) == 0,
                "no dbus-daemon: scripts/install-deps.sh installs it");
    char conf[256], sock[256], cmd[1024], addr[300], why[512] = "";
    snprintf(conf, sizeof conf, "%s/bus.conf", dir);
    snprintf(sock, sizeof sock, "%s/bus", dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "<!DOCTYPE busconfig PUBLIC\n"
               " \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
               " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
               "<busconfig><type>session</type><listen>unix:path=%s</listen>"
               "<auth>EXTERNAL</auth><policy context=\"default\"><allow user=\"*\"/>"
               "<allow own=\"*\"/><allow send_destination=\"*\"/>"
               "<allow receive_sender=\"*\"/></policy></busconfig>\n", sock);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "dbus-daemon --config-file=%s --fork --print-pid --nopidfile > %s/bus.pid", conf,
             dir);
    assert_int_equal(system(cmd), 0);
    snprintf(addr, sizeof addr, "unix:path=%s", sock);
    setenv("DBUS_SESSION_BUS_ADDRESS", addr, 1);
    int rc = lbox_systemd_scope_enter(why, sizeof why);
    snprintf(cmd, sizeof cmd, "kill $(cat %s/bus.pid)", dir);
    if (system(cmd) != 0) {}
    unsetenv("DBUS_SESSION_BUS_ADDRESS");
    assert_int_equal(rc, -1);
    assert_non_null(strstr(why, "systemd's StartTransientUnit(lbox-"));
    assert_non_null(strstr(why, "org.freedesktop.systemd1"));
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bus_present_from_the_environment),
        cmocka_unit_test(a_dead_bus_is_named),
        cmocka_unit_test(a_bus_without_systemd_is_named),
    };
    int failed = cmocka_run_group_tests_name("systemd scope", tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) {}
    return failed ? 1 : 0;
}
