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

#include <stddef.h>

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
int kc_workspace_gh_status(kc_workspace *w, Kc__V1__GhCliStatus **out);

#endif /* KC_SERVER_WORKSPACE_H */
