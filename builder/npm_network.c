#include "npm_network.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/fsutil.h"
#include "../sandbox/sandbox.h"
#include "curl_api.h"

const char *const lbox_npm_proxy_vars[] = {"http_proxy", "https_proxy", "HTTP_PROXY",
                                           "HTTPS_PROXY", NULL};

static bool addr_is_local(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) == 127 || a == 0; /* 127.0.0.0/8; 0.0.0.0 connects to this host */
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && (a->s6_addr[12] == 127 ||
                                           !memcmp(&a->s6_addr[12], "\0\0\0\0", 4));
    }
    return false;
}

/* The host part of a URL (brackets of an IPv6 literal removed), or NULL. */
static char *url_host(const char *url)
{
    struct lbox_error ignore = {0};
    const struct lbox_curl_api *c = lbox_curl_api(&ignore);
    if (!c)
        return NULL;
    CURLU *u = c->url();
    char *host = NULL, *out = NULL;
    if (u && c->url_set(u, CURLUPART_URL, url,
                        CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        c->url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host) {
        size_t n = strlen(host);
        out = host[0] == '[' && n >= 2 && host[n - 1] == ']' ? lbox_strdupf("%.*s", (int)n - 2,
                                                                              host + 1)
                                                             : lbox_xstrdup(host);
    }
    if (host)
        c->free(host);
    if (u)
        c->url_cleanup(u);
    return out;
}

bool lbox_url_host_is_local(const char *url)
{
    char *host = url_host(url);
    if (!host)
        return false;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    bool local = false;
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        for (struct addrinfo *a = res; a && !local; a = a->ai_next)
            local = addr_is_local(a->ai_addr);
        freeaddrinfo(res);
    }
    free(host);
    return local;
}

int lbox_npm_network(const char *registry, enum lbox_npm_net *net, char **why,
                     struct lbox_error *err)
{
    *why = NULL;
    *net = LBOX_NPM_NET_NAT;
    const char *asked = getenv("LBOX_NPM_NETWORK");
    if (!asked || !*asked)
        asked = "auto";
    if (!strcmp(asked, "host")) {
        *net = LBOX_NPM_NET_HOST;
        return 0;
    }
    if (strcmp(asked, "auto") != 0 && strcmp(asked, "nat") != 0)
        return lbox_err(err, LBOX_E_INVAL,
                        "LBOX_NPM_NETWORK is '%s': use 'auto' (the default: npm's own network "
                        "where it can have one), 'nat' (always its own, or fail) or 'host' "
                        "(this host's network, loopback included)", asked);
    bool strict = !strcmp(asked, "nat");

    /* What npm must reach on this host's loopback it cannot reach through slirp4netns. */
    if (lbox_url_host_is_local(registry))
        *why = lbox_strdupf("the npm registry %s is on this host's loopback", registry);
    for (size_t i = 0; !*why && lbox_npm_proxy_vars[i]; i++) {
        const char *v = getenv(lbox_npm_proxy_vars[i]);
        if (v && *v && lbox_url_host_is_local(v))
            *why = lbox_strdupf("the proxy in %s (%s) is on this host's loopback",
                                lbox_npm_proxy_vars[i], v);
    }
    /* What slirp4netns needs. */
    if (!*why && access(lbox_nat_program(), X_OK) < 0)
        *why = lbox_strdupf("slirp4netns, which gives npm a network of its own, is not at %s "
                            "(apt-get install slirp4netns)", lbox_nat_program());
    if (!*why && access("/dev/net/tun", R_OK | W_OK) < 0)
        *why = lbox_xstrdup("this user cannot open /dev/net/tun, which slirp4netns needs "
                            "(udev makes it mode 0666 on most systems)");
    if (*why && strict) {
        lbox_err(err, LBOX_E_INVAL, "LBOX_NPM_NETWORK=nat, but %s: unset it to let npm use "
                 "this host's network", *why);
        free(*why);
        *why = NULL;
        return -1;
    }
    if (*why)
        *net = LBOX_NPM_NET_HOST;
    return 0;
}
