/*
 * workspace.h - WorkspaceService's work: service health probes, the
 * GitHub set-up (SSH key, gh CLI, git identity) and their helpers.
 *
 * Programs (git, ssh-keygen, gh) run through kc_spawn with argv vectors and
 * HOME set to the workspace home. Each function returns 0 and a heap
 * message (free with protobuf_c_message_free_unpacked), or a kc_error with
 * a user-facing message in err.
 */
#ifndef KC_SERVER_WORKSPACE_H
#define KC_SERVER_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kc/v1/workspace.pb-c.h"
#include "server/config.h"

typedef struct kc_workspace kc_workspace;

int kc_workspace_new(const kc_config *cfg, kc_workspace **out);
void kc_workspace_free(kc_workspace *w);

int kc_workspace_health(kc_workspace *w, Kc__V1__Health **out);
int kc_workspace_service_health(kc_workspace *w, const char *name, Kc__V1__ServiceHealth **out, char *err,
                                size_t errlen);
/* GitHub status without the App part (the caller fills github_app). */
int kc_workspace_github_status(kc_workspace *w, Kc__V1__GitHubStatus **out);
int kc_workspace_git_config(kc_workspace *w, Kc__V1__GitConfig **out);
int kc_workspace_set_git_config(kc_workspace *w, const char *name, const char *email, Kc__V1__GitConfig **out,
                                char *err, size_t errlen);
int kc_workspace_generate_ssh_key(kc_workspace *w, const char *email, Kc__V1__SshKeyStatus **out, char *err,
                                  size_t errlen);
int kc_workspace_gh_login(kc_workspace *w, Kc__V1__GhLoginInstructions **out);

/*
 * gh's login state. `gh api user` is a network call (up to 15 s), so it
 * never runs on the caller's thread: a thread of the workspace's runs it
 * at start and on request, and keeps the last answer with its time
 * (GhCliStatus.checked_at; 0 and authenticated false before the first).
 */

/* The last answer at once; asks for a new one in the background when it is
 * over a minute old (or there is none yet). */
int kc_workspace_gh_status(kc_workspace *w, Kc__V1__GhCliStatus **out);

/* Called once with the answer of a probe that started after the request,
 * on the prober's thread; `s` is valid during the call only. */
typedef void (*kc_gh_done_fn)(void *ud, const Kc__V1__GhCliStatus *s);

/* Asks for a fresh answer for `done(ud, ...)`. Returns the request's id
 * (> 0), or KC_ERR_LIMIT when 64 are waiting already, KC_ERR_NOMEM. */
int64_t kc_workspace_gh_check(kc_workspace *w, kc_gh_done_fn done, void *ud);

/* Withdraws a request: true when it was removed (done will never be
 * called), false when done has already been called. */
bool kc_workspace_gh_cancel(kc_workspace *w, int64_t id);

#endif /* KC_SERVER_WORKSPACE_H */
