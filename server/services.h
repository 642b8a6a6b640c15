/*
 * services.h - the rpc handlers of kc.v1 and grpc.health.v1: thin adapters
 * from request messages to the task manager, the metrics sampler, the
 * workspace helpers and the token, registered by method name.
 */
#ifndef KC_SERVER_SERVICES_H
#define KC_SERVER_SERVICES_H

#include <stdatomic.h>

#include "server/config.h"
#include "server/ghapp.h"
#include "server/metrics.h"
#include "server/rpc.h"
#include "server/tasks.h"
#include "server/token.h"
#include "server/workspace.h"

typedef struct kc_app {
	const kc_config *cfg;
	kc_tasks *tasks;
	kc_metrics *metrics;
	kc_workspace *ws;
	kc_token *token;
	kc_ghapp *ghapp; /* NULL when no App is configured */
	/* Open Health/Watch streams without credentials (services.c). */
	atomic_long health_watches;
} kc_app;

/* Registers every method of TaskService, MetricsService, WorkspaceService
 * and grpc.health.v1.Health. */
int kc_services_register(kc_rpc_server *s, kc_app *app);

#endif /* KC_SERVER_SERVICES_H */
