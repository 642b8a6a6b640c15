/*
 * server.h - what the listeners (listen.c) ask of the connections
 * (server.c). Internal to the gateway; loop thread only.
 */
#ifndef KC_GW_SERVER_H
#define KC_GW_SERVER_H

#include <stdbool.h>

#include <event2/util.h>

#include "gateway/gw.h"

/* Makes a connection of accepted socket `fd` (address family `family`;
 * `oauth`: accepted on the identity listener, and never TLS). 0, or
 * KC_ERR_NOMEM and fd is closed. */
int kc_gw_conn_accept(kc_gw *gw, evutil_socket_t fd, int family, bool oauth);

/* Drain: every connection stops taking requests; those with none pending
 * close now, the others once their answers are out. */
void kc_gw_conns_drain(kc_gw *gw);

/* Closes every connection at once (their exchanges abort). */
void kc_gw_conns_close(kc_gw *gw);

#endif /* KC_GW_SERVER_H */
