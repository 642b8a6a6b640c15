/* workspace.c - see workspace.h. */
#include "server/workspace.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/file.h"
#include "common/kc_error.h"
#include "common/log.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "server/spawn.h"
#include "server/store.h"
#include "server/wrappers.h"

#define PROBE_TIMEOUT_MS 300
/* `gh api user` goes to GitHub: up to this long, on the prober's thread. */
#define GH_TIMEOUT_MS 15000
/* GetGitHubStatus answers from the last result and asks again in the
 * background when it is older than this. */
#define GH_MAX_AGE_S 60.0
/* CompleteGhAuth calls waiting for a fresh answer, at most. */
#define GH_WAITERS_MAX 64

extern char **environ;

struct gh_waiter {
	int64_t id;
	/* Served by the first probe numbered at least this (one that started
	 * after the waiter arrived). */
	uint64_t want;
	kc_gh_done_fn done;
	void *ud;
	struct gh_waiter *next;
};

/*
 * The gh prober. `gh api user` is a network call (15 s timeout), so no rpc
 * worker ever runs it: one thread of ours does, on request, and keeps the
 * last answer. Readers take the cached answer (with its time); CompleteGhAuth
 * registers a waiter that the thread answers, through the rpc layer's
 * deferred reply, after the next probe. Waiters are answered with gh_mu
 * held, so kc_workspace_gh_cancel() returning false means the answer has
 * been handed over already (the rpc layer's detach contract).
 */
struct gh_prober {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool started;
	bool stop;
	bool want;      /* a probe was asked for */
	uint64_t begun; /* probes started so far */
	int cancel_fd;  /* eventfd: written at shutdown, kills a running gh */
	/* The last answer (valid when checked_at > 0). */
	bool installed;
	bool authenticated;
	char *username;
	double checked_at;
	struct gh_waiter *waiters;
	size_t n_waiters;
	int64_t next_id;
};

struct kc_workspace {
	const kc_config *cfg;
	char **envp; /* ours with HOME set to the workspace home */
	char home_env[4200];
	struct gh_prober gh;
};

static void *gh_thread(void *arg);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int kc_workspace_new(const kc_config *cfg, kc_workspace **out)
{
	kc_workspace *w = calloc(1, sizeof *w);
	size_t n = 0, o = 0;
	if (!w)
		return KC_ERR_NOMEM;
	w->cfg = cfg;
	while (environ[n])
		n++;
	if (!(w->envp = calloc(n + 2, sizeof *w->envp))) {
		free(w);
		return KC_ERR_NOMEM;
	}
	snprintf(w->home_env, sizeof w->home_env, "HOME=%s", cfg->home);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "HOME=", 5) != 0)
			w->envp[o++] = environ[i];
	w->envp[o++] = w->home_env;
	w->envp[o] = NULL;
	pthread_mutex_init(&w->gh.mu, NULL);
	pthread_cond_init(&w->gh.cv, NULL);
	w->gh.next_id = 1;
	/* The first answer is ready before anyone asks, as a rule. */
	w->gh.want = true;
	if ((w->gh.cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    pthread_create(&w->gh.thread, NULL, gh_thread, w) != 0) {
		kc_log(KC_LOG_ERROR, "cannot start the gh prober", "error", strerror(errno), NULL);
		kc_workspace_free(w);
		return KC_ERR_IO;
	}
	w->gh.started = true;
	*out = w;
	return 0;
}

void kc_workspace_free(kc_workspace *w)
{
	if (!w)
		return;
	if (w->gh.started) {
		uint64_t one = 1;
		ssize_t n;
		pthread_mutex_lock(&w->gh.mu);
		w->gh.stop = true;
		pthread_cond_broadcast(&w->gh.cv);
		pthread_mutex_unlock(&w->gh.mu);
		/* A gh still running is killed rather than waited for. */
		n = write(w->gh.cancel_fd, &one, sizeof one);
		(void)n;
		pthread_join(w->gh.thread, NULL);
	}
	/* The rpc layer detached every waiter before this (it drains first);
	 * any left would only be freed. */
	while (w->gh.waiters) {
		struct gh_waiter *x = w->gh.waiters;
		w->gh.waiters = x->next;
		free(x);
	}
	if (w->gh.cancel_fd >= 0)
		close(w->gh.cancel_fd);
	free(w->gh.username);
	pthread_mutex_destroy(&w->gh.mu);
	pthread_cond_destroy(&w->gh.cv);
	free(w->envp);
	free(w);
}

/* Runs argv with HOME set; returns exit status or -1; *out gets stdout.
 * Only local programs (git, ssh-keygen) run on an rpc worker this way; gh,
 * which goes to the network, runs on the prober's thread (gh_probe). */
static int run(kc_workspace *w, const char *const *argv, char **out)
{
	kc_spawn_opts o = {.out_cap = out ? 65536 : 0, .envp = w->envp, .timeout_ms = 15000};
	kc_spawn_result r;
	int rc = kc_spawn(argv, &o, &r);
	int status = rc == 0 ? r.status : -1;
	if (out) {
		*out = r.out;
		r.out = NULL;
	}
	kc_spawn_result_release(&r);
	return status;
}

static void chomp(char *s)
{
	size_t n = s ? strlen(s) : 0;
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* ---- health -------------------------------------------------------------- */

/* Connects to 127.0.0.1:port; returns latency in ms or -1. */
static double probe(int port)
{
	struct sockaddr_in a;
	struct timespec t0, t1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	double ms = -1;
	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
		ms = 0;
	} else if (errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int err = 0;
		socklen_t el = sizeof err;
		if (poll(&p, 1, PROBE_TIMEOUT_MS) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
		    err == 0)
			ms = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	if (ms == 0)
		ms = (double)(t1.tv_sec - t0.tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return ms;
}

static Kc__V1__ServiceHealth *service_health(int port)
{
	Kc__V1__ServiceHealth *h = malloc(sizeof *h);
	double ms;
	if (!h)
		return NULL;
	kc__v1__service_health__init(h);
	h->port = port;
	ms = probe(port);
	h->checked_at = now_s();
	h->status = ms >= 0 ? KC__V1__SERVICE_STATE__SERVICE_STATE_UP : KC__V1__SERVICE_STATE__SERVICE_STATE_DOWN;
	if (ms >= 0)
		h->latency_ms = kc_double_value_new(ms);
	return h;
}

int kc_workspace_health(kc_workspace *w, Kc__V1__Health **out)
{
	const kc_config *cfg = w->cfg;
	Kc__V1__Health *h = malloc(sizeof *h);
	bool all_up = true;
	if (!h)
		return KC_ERR_NOMEM;
	kc__v1__health__init(h);
	h->timestamp = now_s();
	if (cfg->n_probes && !(h->services = calloc(cfg->n_probes, sizeof *h->services)))
		goto nomem;
	for (size_t i = 0; i < cfg->n_probes; i++) {
		Kc__V1__Health__ServicesEntry *e = malloc(sizeof *e);
		if (!e)
			goto nomem;
		kc__v1__health__services_entry__init(e);
		h->services[h->n_services++] = e;
		if (!(e->key = strdup(cfg->probes[i].name)) || !(e->value = service_health(cfg->probes[i].port)))
			goto nomem;
		if (e->value->status != KC__V1__SERVICE_STATE__SERVICE_STATE_UP)
			all_up = false;
	}
	h->status =
	    all_up ? KC__V1__HEALTH_STATUS__HEALTH_STATUS_HEALTHY : KC__V1__HEALTH_STATUS__HEALTH_STATUS_DEGRADED;
	*out = h;
	return 0;
nomem:
	protobuf_c_message_free_unpacked(&h->base, NULL);
	return KC_ERR_NOMEM;
}

int kc_workspace_service_health(kc_workspace *w, const char *name, Kc__V1__ServiceHealth **out, char *err,
                                size_t errlen)
{
	for (size_t i = 0; i < w->cfg->n_probes; i++) {
		if (strcmp(w->cfg->probes[i].name, name) == 0) {
			if (!(*out = service_health(w->cfg->probes[i].port)))
				return KC_ERR_NOMEM;
			return 0;
		}
	}
	snprintf(err, errlen, "unknown service");
	return KC_ERR_NOT_FOUND;
}

/* ---- GitHub -------------------------------------------------------------- */

static Kc__V1__SshKeyStatus *ssh_status(kc_workspace *w)
{
	static const char *const names[] = {"id_ed25519", "id_ecdsa", "id_rsa", NULL};
	Kc__V1__SshKeyStatus *s = malloc(sizeof *s);
	char path[4200];
	if (!s)
		return NULL;
	kc__v1__ssh_key_status__init(s);
	for (size_t i = 0; names[i]; i++) {
		char *pub = NULL, *fp = NULL, *sp;
		size_t len;
		snprintf(path, sizeof path, "%s/.ssh/%s.pub", w->cfg->home, names[i]);
		if (kc_file_read(path, 16384, &pub, &len) != 0)
			continue;
		chomp(pub);
		s->configured = true;
		s->public_key = pub;
		if ((sp = strchr(pub, ' ')) != NULL)
			s->key_type = strndup(pub, (size_t)(sp - pub));
		{
			const char *argv[] = {"ssh-keygen", "-l", "-f", path, NULL};
			if (run(w, argv, &fp) == 0 && fp) {
				char *a = strchr(fp, ' '), *b;
				if (a && (b = strchr(a + 1, ' ')) != NULL)
					s->key_fingerprint = strndup(a + 1, (size_t)(b - a - 1));
			}
			free(fp);
		}
		break;
	}
	return s;
}

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4200];
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog);
		if (n && access(buf, X_OK) == 0)
			return true;
		path += n + (colon ? 1 : 0);
	}
	return false;
}

/* ---- the gh prober ------------------------------------------------------- */

/* Asks gh who it is logged in as; on the prober's thread only. */
static void gh_probe(kc_workspace *w, bool *installed, bool *authenticated, char **username)
{
	const char *argv[] = {"gh", "api", "user", "--jq", ".login", NULL};
	kc_spawn_opts o = {.out_cap = 4096, .envp = w->envp, .timeout_ms = GH_TIMEOUT_MS, .cancel_fd = w->gh.cancel_fd};
	kc_spawn_result r;
	int rc;

	*installed = on_path("gh");
	*authenticated = false;
	*username = NULL;
	if (!*installed)
		return;
	rc = kc_spawn(argv, &o, &r);
	if (rc == 0 && r.status == 0 && r.out) {
		chomp(r.out);
		if (*r.out) {
			*authenticated = true;
			*username = r.out;
			r.out = NULL;
		}
	} else if (rc != 0) {
		kc_log(KC_LOG_WARN, "gh api user failed", "error", kc_strerror(rc), NULL);
	}
	kc_spawn_result_release(&r);
}

/* The cached answer as a message on the stack (strings borrowed); call
 * with gh.mu held. */
static void gh_fill(const struct gh_prober *g, Kc__V1__GhCliStatus *m)
{
	kc__v1__gh_cli_status__init(m);
	m->installed = g->installed;
	m->authenticated = g->authenticated;
	m->username = g->username ? g->username : (char *)"";
	m->checked_at = g->checked_at;
}

static void *gh_thread(void *arg)
{
	kc_workspace *w = arg;
	struct gh_prober *g = &w->gh;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		bool installed, authenticated;
		char *username;
		uint64_t n;
		double took_ms;
		long long t0;
		struct timespec ts;

		while (!g->stop && !g->want)
			pthread_cond_wait(&g->cv, &g->mu);
		if (g->stop)
			break;
		g->want = false;
		n = ++g->begun;
		pthread_mutex_unlock(&g->mu);

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		gh_probe(w, &installed, &authenticated, &username);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		took_ms = (double)((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0);

		pthread_mutex_lock(&g->mu);
		if (g->stop) {
			free(username);
			break;
		}
		free(g->username);
		g->installed = installed;
		g->authenticated = authenticated;
		g->username = username;
		g->checked_at = now_s();
		{
			char ms[32];
			snprintf(ms, sizeof ms, "%.0f", took_ms);
			kc_log(KC_LOG_DEBUG, "gh status checked", "installed", installed ? "true" : "false",
			       "authenticated", authenticated ? "true" : "false", "took_ms", ms, NULL);
		}
		/* Answer the waiters this probe serves, under the lock (see
		 * struct gh_prober). */
		for (struct gh_waiter **pp = &g->waiters; *pp;) {
			struct gh_waiter *x = *pp;
			Kc__V1__GhCliStatus m;
			if (x->want > n) {
				pp = &x->next;
				continue;
			}
			*pp = x->next;
			g->n_waiters--;
			gh_fill(g, &m);
			x->done(x->ud, &m);
			free(x);
		}
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int kc_workspace_gh_status(kc_workspace *w, Kc__V1__GhCliStatus **out)
{
	struct gh_prober *g = &w->gh;
	Kc__V1__GhCliStatus *m = malloc(sizeof *m), tmp;
	if (!m)
		return KC_ERR_NOMEM;
	pthread_mutex_lock(&g->mu);
	gh_fill(g, &tmp);
	*m = tmp;
	m->username = strdup(tmp.username);
	if (g->checked_at <= 0 || now_s() - g->checked_at > GH_MAX_AGE_S) {
		g->want = true;
		pthread_cond_signal(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	if (tmp.checked_at <= 0)
		m->installed = on_path("gh");
	if (!m->username) {
		free(m);
		return KC_ERR_NOMEM;
	}
	*out = m;
	return 0;
}

int64_t kc_workspace_gh_check(kc_workspace *w, kc_gh_done_fn done, void *ud)
{
	struct gh_prober *g = &w->gh;
	struct gh_waiter *x = calloc(1, sizeof *x);
	int64_t id;
	if (!x)
		return KC_ERR_NOMEM;
	pthread_mutex_lock(&g->mu);
	if (g->n_waiters >= GH_WAITERS_MAX) {
		pthread_mutex_unlock(&g->mu);
		free(x);
		return KC_ERR_LIMIT;
	}
	id = x->id = g->next_id++;
	x->want = g->begun + 1;
	x->done = done;
	x->ud = ud;
	x->next = g->waiters;
	g->waiters = x;
	g->n_waiters++;
	g->want = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return id;
}

bool kc_workspace_gh_cancel(kc_workspace *w, int64_t id)
{
	struct gh_prober *g = &w->gh;
	bool removed = false;
	pthread_mutex_lock(&g->mu);
	for (struct gh_waiter **pp = &g->waiters; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct gh_waiter *x = *pp;
			*pp = x->next;
			g->n_waiters--;
			free(x);
			removed = true;
			break;
		}
	}
	pthread_mutex_unlock(&g->mu);
	return removed;
}

static char *git_get(kc_workspace *w, const char *key)
{
	const char *argv[] = {"git", "config", "--global", "--get", key, NULL};
	char *v = NULL;
	if (run(w, argv, &v) != 0) {
		free(v);
		return NULL;
	}
	chomp(v);
	return v;
}

int kc_workspace_git_config(kc_workspace *w, Kc__V1__GitConfig **out)
{
	Kc__V1__GitConfig *g = malloc(sizeof *g);
	if (!g)
		return KC_ERR_NOMEM;
	kc__v1__git_config__init(g);
	g->user_name = git_get(w, "user.name");
	g->user_email = git_get(w, "user.email");
	if (!g->user_name)
		g->user_name = strdup("");
	if (!g->user_email)
		g->user_email = strdup("");
	*out = g;
	return 0;
}

int kc_workspace_github_status(kc_workspace *w, Kc__V1__GitHubStatus **out)
{
	Kc__V1__GitHubStatus *s = malloc(sizeof *s);
	if (!s)
		return KC_ERR_NOMEM;
	kc__v1__git_hub_status__init(s);
	s->ssh = ssh_status(w);
	kc_workspace_gh_status(w, &s->gh_cli);
	kc_workspace_git_config(w, &s->git_config);
	if (!s->ssh || !s->gh_cli || !s->git_config) {
		protobuf_c_message_free_unpacked(&s->base, NULL);
		return KC_ERR_NOMEM;
	}
	*out = s;
	return 0;
}

static bool one_line(const char *s, size_t max)
{
	size_t n = 0;
	for (; *s; s++, n++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return n > 0 && n <= max;
}

/* Plausible: one '@' with something on both sides, a dot in the domain,
 * no spaces or control characters. */
static bool plausible_email(const char *s)
{
	const char *at = strchr(s, '@');
	if (!one_line(s, 254) || !at || at == s || strchr(at + 1, '@') || !strchr(at + 1, '.') || strchr(s, ' '))
		return false;
	return at[1] != '.' && s[strlen(s) - 1] != '.';
}

int kc_workspace_set_git_config(kc_workspace *w, const char *name, const char *email, Kc__V1__GitConfig **out,
                                char *err, size_t errlen)
{
	if (!name || !*name || !email || !*email) {
		snprintf(err, errlen, "name and email are required");
		return KC_ERR_INVALID;
	}
	if (!one_line(name, 200) || name[0] == '-') {
		snprintf(err, errlen, "name must be one line of at most 200 characters");
		return KC_ERR_INVALID;
	}
	if (!plausible_email(email)) {
		snprintf(err, errlen, "email is not a valid address");
		return KC_ERR_INVALID;
	}
	{
		const char *a1[] = {"git", "config", "--global", "user.name", name, NULL};
		const char *a2[] = {"git", "config", "--global", "user.email", email, NULL};
		if (run(w, a1, NULL) != 0 || run(w, a2, NULL) != 0) {
			snprintf(err, errlen, "git config failed");
			return KC_ERR_IO;
		}
	}
	kc_log(KC_LOG_INFO, "git identity set", NULL);
	return kc_workspace_git_config(w, out);
}

int kc_workspace_generate_ssh_key(kc_workspace *w, const char *email, Kc__V1__SshKeyStatus **out, char *err,
                                  size_t errlen)
{
	char dir[4096], key[4200], cfgpath[4200];
	struct stat st;
	char *conf = NULL;
	size_t len = 0;

	if (!email || !plausible_email(email)) {
		snprintf(err, errlen, "email is required and must be a valid address");
		return KC_ERR_INVALID;
	}
	snprintf(dir, sizeof dir, "%s/.ssh", w->cfg->home);
	snprintf(key, sizeof key, "%s/id_ed25519", dir);
	snprintf(cfgpath, sizeof cfgpath, "%s/config", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create ~/.ssh");
		return KC_ERR_IO;
	}
	if (stat(key, &st) != 0) {
		const char *argv[] = {"ssh-keygen", "-q", "-t", "ed25519", "-C", email, "-f", key, "-N", "", NULL};
		if (run(w, argv, NULL) != 0) {
			snprintf(err, errlen, "ssh-keygen failed");
			return KC_ERR_IO;
		}
		kc_log(KC_LOG_INFO, "ssh key generated", "path", key, NULL);
	}
	/* The github.com entry, once. */
	if (kc_file_read(cfgpath, 1 << 20, &conf, &len) != 0 || !strstr(conf, "Host github.com")) {
		FILE *f = fopen(cfgpath, "a");
		if (f) {
			fprintf(f,
			        "%sHost github.com\n  HostName github.com\n  User git\n  IdentityFile %s\n"
			        "  IdentitiesOnly yes\n",
			        conf && len && conf[len - 1] != '\n' ? "\n" : "", key);
			fclose(f);
			chmod(cfgpath, 0600);
		}
	}
	free(conf);
	if (!(*out = ssh_status(w)))
		return KC_ERR_NOMEM;
	return 0;
}

int kc_workspace_gh_login(kc_workspace *w, Kc__V1__GhLoginInstructions **out)
{
	Kc__V1__GhLoginInstructions *g = malloc(sizeof *g);
	(void)w;
	if (!g)
		return KC_ERR_NOMEM;
	kc__v1__gh_login_instructions__init(g);
	g->instructions = strdup("Run the command in the workspace terminal, open the URL it prints, "
	                         "enter the one-time code and approve. Then press 'complete'.");
	g->command = strdup("gh auth login --hostname github.com --git-protocol ssh --web");
	g->url = strdup("https://github.com/login/device");
	if (!g->instructions || !g->command || !g->url) {
		protobuf_c_message_free_unpacked(&g->base, NULL);
		return KC_ERR_NOMEM;
	}
	*out = g;
	return 0;
}
