#include "npm_network.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/cleanup.h"
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

/* A URL's host (brackets of an IPv6 literal removed) and the URL as it may be shown: without
 * a user name or password (a proxy's often carries them, and build logs are kept). */
struct parsed_url {
    char *host, *shown;
};

static bool url_parse(const char *url, struct parsed_url *p)
{
    *p = (struct parsed_url){NULL, NULL};
    struct lbox_error ignore = {0};
    const struct lbox_curl_api *c = lbox_curl_api(&ignore);
    if (!c)
        return false;
    CURLU *u = c->url();
    char *host = NULL, *shown = NULL;
    if (u && c->url_set(u, CURLUPART_URL, url,
                        CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        c->url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host &&
        c->url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
        c->url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
        c->url_get(u, CURLUPART_URL, &shown, 0) == CURLUE_OK) {
        size_t n = strlen(host);
        p->host = host[0] == '[' && n >= 2 && host[n - 1] == ']'
                      ? lbox_strdupf("%.*s", (int)n - 2, host + 1)
                      : lbox_xstrdup(host);
        p->shown = lbox_xstrdup(shown);
    }
    if (host)
        c->free(host);
    if (shown)
        c->free(shown);
    if (u)
        c->url_cleanup(u);
    return p->host != NULL;
}

static void parsed_url_free(struct parsed_url *p)
{
    free(p->host);
    free(p->shown);
}

/* What npm's own network makes of a host: slirp4netns gives it IPv4 only, and none of
 * this host's loopback. */
enum reach { REACH_UNKNOWN, REACH_LOCAL, REACH_IPV4, REACH_NO_IPV4 };

static enum reach host_reach(const char *host)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return REACH_UNKNOWN; /* npm will say what it makes of it */
    bool local = false, ipv4 = false;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        local = local || addr_is_local(a->ai_addr);
        ipv4 = ipv4 || a->ai_family == AF_INET;
    }
    freeaddrinfo(res);
    return local ? REACH_LOCAL : ipv4 ? REACH_IPV4 : REACH_NO_IPV4;
}

bool lbox_url_host_is_local(const char *url)
{
    struct parsed_url p;
    if (!url_parse(url, &p))
        return false;
    bool local = host_reach(p.host) == REACH_LOCAL;
    parsed_url_free(&p);
    return local;
}

/* Why npm's own network cannot reach `url`, named as "<what> <url><after>", or NULL. */
static char *unreachable(const char *what, const char *url, const char *after)
{
    struct parsed_url p;
    if (!url_parse(url, &p))
        return NULL;
    char *why = NULL;
    switch (host_reach(p.host)) {
    case REACH_LOCAL:
        why = lbox_strdupf("%s %s%s is on this host's loopback", what, p.shown, after);
        break;
    case REACH_NO_IPV4:
        why = lbox_strdupf("%s %s%s has no IPv4 address, and npm's own network (slirp4netns) "
                           "has IPv4 only", what, p.shown, after);
        break;
    default:
        break;
    }
    parsed_url_free(&p);
    return why;
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

    /* What npm must reach, slirp4netns cannot: this host's loopback, IPv6. */
    *why = unreachable("the npm registry", registry, "");
    for (size_t i = 0; !*why && lbox_npm_proxy_vars[i]; i++) {
        const char *v = getenv(lbox_npm_proxy_vars[i]);
        if (v && *v) {
            _cleanup_free_ char *after = lbox_strdupf(" (%s)", lbox_npm_proxy_vars[i]);
            *why = unreachable("the proxy", v, after);
        }
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
