/* Which network the build's npm install gets.
 *
 * npm needs a registry, and it runs the function's install scripts, which are hostile code.
 * Where it can, its sandbox has a network namespace of its own, joined to the internet
 * through slirp4netns (sandbox nat_network): the scripts reach what npm reaches, but not
 * this host's loopback services. It cannot when npm must reach this host's loopback (a
 * registry such as a local Verdaccio, a developer's forwarding proxy), when slirp4netns is
 * not installed, or when the user may not open /dev/net/tun; then npm shares the host's
 * network, and lbox says why. LBOX_NPM_NETWORK=nat makes those an error instead, and
 * LBOX_NPM_NETWORK=host asks for the host's network outright. */
#ifndef LBOX_BUILDER_NPM_NETWORK_H
#define LBOX_BUILDER_NPM_NETWORK_H

#include <stdbool.h>

#include "../common/error.h"

enum lbox_npm_net {
    LBOX_NPM_NET_NAT,  /* own namespace through slirp4netns; the host's loopback unreachable */
    LBOX_NPM_NET_HOST, /* the host's network namespace */
};

/* The proxy variables npm is handed (npm_install.c passes these through). */
extern const char *const lbox_npm_proxy_vars[];

/* Decides from $LBOX_NPM_NETWORK ("auto", the default, "nat" or "host"), the registry URL,
 * the proxy variables and what slirp4netns needs. When HOST is chosen without being asked
 * for, *why (malloc'd) says why; otherwise *why is NULL. An unknown LBOX_NPM_NETWORK, or
 * "nat" where it cannot be had, is an error. */
int lbox_npm_network(const char *registry, enum lbox_npm_net *net, char **why,
                     struct lbox_error *err);

/* Whether a URL's host is this machine (a loopback or unspecified address, or a name that
 * resolves to one); false for a URL without a host (file://) or one that does not parse.
 * A URL without a scheme ("localhost:3128", as proxies are often written) is taken as
 * http. */
bool lbox_url_host_is_local(const char *url);

#endif
