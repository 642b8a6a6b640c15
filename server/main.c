/*
 * kc-server: the kube-coder control plane for one workspace.
 *
 *   kc-server [--config FILE]
 *   kc-server --check-config [FILE]
 *
 * Reads the config (defaults when no file is given), applies KC_HOME,
 * KC_GRPC_PORT and KC_AGENT, loads the task store, re-adopts live tmux
 * sessions, and serves gRPC on the unix socket (and TCP when configured)
 * until SIGTERM or SIGINT, when it drains gracefully.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "server/config.h"
#include "server/ghapp.h"
#include "server/lock.h"
#include "server/metrics.h"
#include "server/rpc.h"
#include "server/services.h"
#include "server/tasks.h"
#include "server/token.h"
#include "server/workspace.h"

#define DRAIN_MS 5000
#define WORKERS 4

/*
 * One kc-server per home and per socket (lock.h): the tasks directory's lock
 * first, then the socket's, both before the store is loaded (loading sweeps
 * leftovers and reconciles tasks, which only the owner may do) and before
 * the socket path is unlinked for the listener. Their directories are made
 * here, private (0700), for the lock files to live in.
 */
static int take_locks(const kc_config *cfg, kc_lock **home, kc_lock **sock, char *err, size_t errlen)
{
	char path[4200], dir[4200];
	char *slash;
	int rc;

	if (mkdir(cfg->tasks_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create the tasks directory '%.300s': %s", cfg->tasks_dir,
		         strerror(errno));
		return KC_ERR_IO;
	}
	snprintf(path, sizeof path, "%s/.kc-server.lock", cfg->tasks_dir);
	if ((rc = kc_lock_acquire(path, "home", home, err, errlen)) != 0)
		return rc;
	snprintf(dir, sizeof dir, "%s", cfg->socket);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create the socket directory '%.300s': %s", dir, strerror(errno));
			return KC_ERR_IO;
		}
	}
	snprintf(path, sizeof path, "%s.lock", cfg->socket);
	return kc_lock_acquire(path, "socket", sock, err, errlen);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kc-server [--config FILE]\n"
	           "       kc-server --check-config [FILE]   validate FILE (or the defaults) and exit\n");
}

/* Returns -1 to go on, or the exit status (--help, a bad argument). */
static int parse_args(int argc, char **argv, const char **config_path, bool *check_only)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			*config_path = argv[++i];
		} else if (strcmp(argv[i], "--check-config") == 0) {
			*check_only = true;
			/* --check-config FILE, or --config FILE --check-config. */
			if (i + 1 < argc && argv[i + 1][0] != '-')
				*config_path = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* --check-config: the file alone, as a Helm chart renders it: no
 * environment overrides, nothing outside the file looked at. Returns the
 * exit status; releases cfg. */
static int check_config(kc_config *cfg, const char *config_path)
{
	const char *name = config_path ? config_path : "(built-in defaults)";
	char err[512] = "";
	if ((config_path && kc_config_load_file(cfg, config_path, err, sizeof err) != 0) ||
	    kc_config_finish(cfg, err, sizeof err) != 0) {
		fprintf(stderr, "kc-server: %s: %s\n", name, err);
		kc_config_release(cfg);
		return 1;
	}
	printf("kc-server: %s: configuration OK\n", name);
	kc_config_release(cfg);
	return 0;
}

/* Everything after the locks: the task store, the token, the services,
 * the listeners and the threads. What it made is in `app` and `*srv`
 * (main frees it, also on failure). */
static int start(kc_config *cfg, kc_app *app, kc_rpc_server **srv)
{
	char err[512] = "", path[4200], addr[4200];
	int rc;

	if ((rc = kc_tasks_new(cfg, &app->tasks, err, sizeof err)) != 0) {
		kc_log(KC_LOG_ERROR, "cannot load tasks", "error", err, NULL);
		return rc;
	}
	snprintf(path, sizeof path, "%s/.api-token", cfg->tasks_dir);
	if ((rc = kc_token_new(path, &app->token)) != 0) {
		kc_log(KC_LOG_ERROR, "cannot create the API token", "path", path, "error", kc_strerror(rc), NULL);
		return rc;
	}
	if ((rc = kc_metrics_new(cfg, NULL, &app->metrics)) != 0 || (rc = kc_workspace_new(cfg, &app->ws)) != 0) {
		kc_log(KC_LOG_ERROR, "cannot start", "error", kc_strerror(rc), NULL);
		return rc;
	}
	if (kc_ghapp_new(cfg, &app->ghapp, err, sizeof err) != 0) {
		kc_log(KC_LOG_ERROR, "github app disabled", "error", err, NULL);
		app->ghapp = NULL;
	}
	if ((rc = kc_rpc_server_new(app->token, cfg->max_prompt_bytes + 65536, srv)) != 0 ||
	    (rc = kc_services_register(*srv, app)) != 0) {
		kc_log(KC_LOG_ERROR, "cannot create the gRPC server", "error", kc_strerror(rc), NULL);
		return rc;
	}
	kc_rpc_set_tcp_limits(*srv, &(kc_rpc_tcp_limits){.max_concurrent_streams = (int)cfg->grpc_max_streams});
	snprintf(addr, sizeof addr, "unix:%s", cfg->socket);
	if ((rc = kc_rpc_listen(*srv, addr)) < 0) {
		kc_log(KC_LOG_ERROR, "cannot listen", "address", addr, NULL);
		return rc;
	}
	if (*cfg->grpc_listen && (rc = kc_rpc_listen(*srv, cfg->grpc_listen)) < 0) {
		kc_log(KC_LOG_ERROR, "cannot listen", "address", cfg->grpc_listen, NULL);
		return rc;
	}
	if ((rc = kc_tasks_start(app->tasks)) != 0 || (rc = kc_metrics_start(app->metrics)) != 0 ||
	    (rc = kc_rpc_start(*srv, WORKERS)) != 0) {
		kc_log(KC_LOG_ERROR, "cannot start threads", NULL);
		return rc;
	}
	kc_log(KC_LOG_INFO, "serving", "socket", cfg->socket, "grpc_listen",
	       *cfg->grpc_listen ? cfg->grpc_listen : NULL, "tasks_dir", cfg->tasks_dir, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	bool check_only = false;
	kc_config cfg;
	kc_app app;
	kc_rpc_server *srv = NULL;
	kc_lock *home_lock = NULL, *sock_lock = NULL;
	char err[512] = "";
	sigset_t sigs;
	int sig = 0, rc, status = 1;

	/* Memory (DESIGN §6 wants an idle control plane under 10 MiB with the
	 * gateway). Two malloc arenas rather than glibc's 8 per core: each
	 * arena keeps what its threads freed, and a dozen threads (gRPC's and
	 * ours) doing light work do not contend enough to need more. Blocks
	 * from 256 KiB up (packed replies, file buffers) are mmapped and so
	 * returned on free; a fixed threshold also stops glibc from raising it
	 * after the first big free, which would keep them in the heap. */
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 512 * 1024);
	memset(&app, 0, sizeof app);
	if ((rc = parse_args(argc, argv, &config_path, &check_only)) >= 0)
		return rc;
	kc_log_set_component("kc-server");
	if (kc_config_init(&cfg) != 0) {
		fprintf(stderr, "kc-server: out of memory\n");
		return 1;
	}
	if (check_only)
		return check_config(&cfg, config_path);
	if ((config_path && (rc = kc_config_load_file(&cfg, config_path, err, sizeof err)) != 0) ||
	    (rc = kc_config_apply_env(&cfg, err, sizeof err)) != 0) {
		fprintf(stderr, "kc-server: %s\n", err);
		kc_log(KC_LOG_ERROR, "bad configuration", "error", err, NULL);
		kc_config_release(&cfg);
		return 1;
	}
	kc_log_set_level(cfg.log_level);
	app.cfg = &cfg;
	atomic_init(&app.health_watches, 0);

	/* Signals are taken by sigwait() below; every thread inherits the
	 * mask. SIGPIPE is ignored: a vanished child or peer is an error
	 * return, not a death. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if ((rc = take_locks(&cfg, &home_lock, &sock_lock, err, sizeof err)) != 0) {
		fprintf(stderr, "kc-server: %s\n", err);
		kc_log(KC_LOG_ERROR, "refusing to start", "error", err, NULL);
		goto out;
	}
	if (start(&cfg, &app, &srv) != 0)
		goto out;
	while (sigwait(&sigs, &sig) != 0)
		;
	kc_log(KC_LOG_INFO, "draining", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
	kc_rpc_shutdown(srv, DRAIN_MS);
	status = 0;
out:
	kc_rpc_server_free(srv);
	kc_ghapp_free(app.ghapp);
	kc_metrics_free(app.metrics);
	kc_tasks_free(app.tasks);
	kc_workspace_free(app.ws);
	kc_token_free(app.token);
	/* Last: the socket was unlinked above while we still held its lock. */
	kc_lock_release(sock_lock);
	kc_lock_release(home_lock);
	kc_config_release(&cfg);
	if (status == 0)
		kc_log(KC_LOG_INFO, "stopped", NULL);
	return status;
}
