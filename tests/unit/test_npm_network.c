/* Which network the build's npm install gets (builder/npm_network.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/npm_network.h"

static const char *const vars[] = {"LBOX_NPM_NETWORK", "LBOX_SLIRP4NETNS", "http_proxy",
                                   "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", NULL};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; vars[i]; i++)
        unsetenv(vars[i]);
    /* An executable that stands for slirp4netns: the choice only checks that it is there. */
    setenv("LBOX_SLIRP4NETNS", "/bin/true", 1);
    return 0;
}

static void local_hosts(void **state)
{
    (void)state;
    const char *local[] = {"http://127.0.0.1:4873", "http://localhost/", "https://[::1]:8443/x",
                           "http://127.9.8.7", "localhost:3128", "http://0.0.0.0:80/",
                           "http://user:pw@127.0.0.1:3128", "http://[::ffff:127.0.0.1]:1/"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        print_message("%s\n", local[i]);
        assert_true(lbox_url_host_is_local(local[i]));
    }
    const char *other[] = {"http://192.0.2.7:4873", "https://[2001:db8::1]/", "file:///srv/npm",
                           "", "http://", "not a url at all", "http://10.0.2.2:80"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        print_message("%s\n", other[i]);
        assert_false(lbox_url_host_is_local(other[i]));
    }
}

/* What this machine lets slirp4netns have decides the default for a remote registry. */
static void remote_registry(void **state)
{
    (void)state;
    enum lbox_npm_net net;
    char *why = NULL;
    struct lbox_error err = {0};
    assert_int_equal(lbox_npm_network("http://192.0.2.7:4873", &net, &why, &err), 0);
    if (access("/dev/net/tun", R_OK | W_OK) == 0) {
        assert_int_equal(net, LBOX_NPM_NET_NAT);
        assert_null(why);
    } else {
        assert_int_equal(net, LBOX_NPM_NET_HOST);
        assert_non_null(strstr(why, "/dev/net/tun"));
        free(why);
    }

    /* No slirp4netns: the host's network, saying how to get it. */
    setenv("LBOX_SLIRP4NETNS", "/nonexistent/slirp4netns", 1);
    assert_int_equal(lbox_npm_network("http://192.0.2.7:4873", &net, &why, &err), 0);
    assert_int_equal(net, LBOX_NPM_NET_HOST);
    assert_non_null(strstr(why, "apt-get install slirp4netns"));
    free(why);

    /* ...which LBOX_NPM_NETWORK=nat makes an error rather than a quiet downgrade. */
    setenv("LBOX_NPM_NETWORK", "nat", 1);
    assert_int_equal(lbox_npm_network("http://192.0.2.7:4873", &net, &why, &err), -1);
    assert_null(why);
    assert_non_null(strstr(err.msg, "LBOX_NPM_NETWORK=nat"));
    assert_non_null(strstr(err.msg, "slirp4netns"));
}

static void loopback_registry_or_proxy(void **state)
{
    (void)state;
    enum lbox_npm_net net;
    char *why = NULL;
    struct lbox_error err = {0};
    assert_int_equal(lbox_npm_network("http://127.0.0.1:4873", &net, &why, &err), 0);
    assert_int_equal(net, LBOX_NPM_NET_HOST);
    assert_non_null(strstr(why, "registry http://127.0.0.1:4873"));
    free(why);

    /* Named without its password: build logs are kept. */
    setenv("HTTPS_PROXY", "http://me:s3cret@localhost:3128", 1);
    assert_int_equal(lbox_npm_network("http://192.0.2.7:4873", &net, &why, &err), 0);
    assert_int_equal(net, LBOX_NPM_NET_HOST);
    assert_non_null(strstr(why, "proxy http://localhost:3128/ (HTTPS_PROXY) is on this host's"));
    assert_null(strstr(why, "s3cret"));
    free(why);

    /* npm's own network has IPv4 only: a registry with an IPv6 address alone needs the
     * host's network. */
    unsetenv("HTTPS_PROXY");
    assert_int_equal(lbox_npm_network("http://me:pw@[2001:db8::7]:4873", &net, &why, &err), 0);
    assert_int_equal(net, LBOX_NPM_NET_HOST);
    assert_non_null(strstr(why, "registry http://[2001:db8::7]:4873/ has no IPv4 address"));
    assert_null(strstr(why, "pw"));
    free(why);

    /* A remote proxy keeps npm in its own network (when this machine allows one). */
    setenv("HTTPS_PROXY", "http://192.0.2.9:3128", 1);
    setenv("LBOX_NPM_NETWORK", "nat", 1);
    int rc = lbox_npm_network("http://192.0.2.7:4873", &net, &why, &err);
    assert_null(why);
    if (access("/dev/net/tun", R_OK | W_OK) == 0) {
        assert_int_equal(rc, 0);
        assert_int_equal(net, LBOX_NPM_NET_NAT);
    } else {
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err.msg, "/dev/net/tun"));
    }
}

static void asked_outright(void **state)
{
    (void)state;
    enum lbox_npm_net net;
    char *why = NULL;
    struct lbox_error err = {0};
    setenv("LBOX_NPM_NETWORK", "host", 1);
    assert_int_equal(lbox_npm_network("http://192.0.2.7:4873", &net, &why, &err), 0);
    assert_int_equal(net, LBOX_NPM_NET_HOST);
    assert_null(why);

    setenv("LBOX_NPM_NETWORK", "bridge", 1);
    assert_int_equal(lbox_npm_network("http://192.0.2.7:4873", &net, &why, &err), -1);
    assert_non_null(strstr(err.msg, "'bridge'"));
    assert_non_null(strstr(err.msg, "'host'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(local_hosts, clear_env),
        cmocka_unit_test_setup(remote_registry, clear_env),
        cmocka_unit_test_setup(loopback_registry_or_proxy, clear_env),
        cmocka_unit_test_setup(asked_outright, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
