/*
 * task_pb.c - task -> protobuf: a heap Kc__V1__Task from an index entry.
 */
#include "server/tasks_int.h"

/* ---- protobuf ------------------------------------------------------------ */

static char *xstrdup(const char *s, bool *oom)
{
	char *d = strdup(s ? s : "");
	if (!d)
		*oom = true;
	return d;
}

/* A heap copy of the task as a message; call with mu held. */
Kc__V1__Task *kc_task_task_pb(const struct entry *e)
{
	const kc_task *t = &e->t;
	Kc__V1__Task *p = malloc(sizeof *p);
	bool oom = false;
	char name[64];

	if (!p)
		return NULL;
	kc__v1__task__init(p);
	kc_task_session_name(t->task_id, name, sizeof name, false);
	p->task_id = xstrdup(t->task_id, &oom);
	p->session_id = xstrdup(t->session_id, &oom);
	p->prompt = xstrdup(t->prompt, &oom);
	p->workdir = xstrdup(t->workdir, &oom);
	p->status = t->status;
	p->created_at = t->created_at;
	p->tmux_session = xstrdup(name, &oom);
	p->agent = xstrdup(t->agent, &oom);
	p->recent_output = xstrdup("", &oom);
	p->status_detail = t->status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING
	                       ? t->activity
	                       : KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_UNSPECIFIED;
	if (t->finished_at > 0 && !(p->finished_at = kc_double_value_new(t->finished_at)))
		oom = true;
	if (t->killed_at > 0 && !(p->killed_at = kc_double_value_new(t->killed_at)))
		oom = true;
	if (t->prompt_delivered_at > 0 && !(p->prompt_delivered_at = kc_double_value_new(t->prompt_delivered_at)))
		oom = true;
	if (t->error && t->status == KC__V1__TASK_STATUS__TASK_STATUS_ERROR) {
		if ((p->error = malloc(sizeof *p->error)) != NULL) {
			google__protobuf__string_value__init(p->error);
			p->error->value = xstrdup(t->error, &oom);
		} else {
			oom = true;
		}
	}
	if (t->n_followups) {
		if (!(p->followups = calloc(t->n_followups, sizeof *p->followups)))
			oom = true;
		for (size_t i = 0; p->followups && i < t->n_followups; i++) {
			Kc__V1__Followup *f = malloc(sizeof *f);
			if (!f) {
				oom = true;
				break;
			}
			kc__v1__followup__init(f);
			f->prompt = xstrdup(t->followups[i].prompt, &oom);
			f->sent_at = t->followups[i].sent_at;
			p->followups[p->n_followups++] = f;
		}
	}
	if (oom) {
		protobuf_c_message_free_unpacked(&p->base, NULL);
		return NULL;
	}
	return p;
}
