/*
 * format.c - what kc prints: tables for people, and with --output json the
 * REST API's JSON objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/cli/cli.h"

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "12s ago", "5m ago", "3h ago", "2d ago"; "-" for 0. */
const char *cli_ago(double t, char *buf, size_t len)
{
	if (t <= 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	double d = cli_now() - t;
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(buf, len, "%ds ago", (int)d);
	else if (d < 3600)
		snprintf(buf, len, "%dm ago", (int)(d / 60));
	else if (d < 86400)
		snprintf(buf, len, "%dh ago", (int)(d / 3600));
	else
		snprintf(buf, len, "%dd ago", (int)(d / 86400));
	return buf;
}

const char *cli_duration(double d, char *buf, size_t len)
{
	int s = d > 0 ? (int)d : 0;
	if (s < 60)
		snprintf(buf, len, "%ds", s);
	else if (s < 3600)
		snprintf(buf, len, "%dm%02ds", s / 60, s % 60);
	else
		snprintf(buf, len, "%dh%02dm", s / 3600, (s % 3600) / 60);
	return buf;
}

/* The first line of s, at most `max` bytes, "…" when cut. */
void cli_one_line(const char *s, size_t max, char *out, size_t outlen)
{
	size_t n = strcspn(s, "\r\n");
	bool cut = s[n] != '\0';
	if (n > max) {
		n = max;
		/* do not split a UTF-8 sequence */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		cut = true;
	}
	if (n + 4 > outlen)
		n = outlen - 4;
	memcpy(out, s, n);
	out[n] = '\0';
	if (cut)
		strcat(out, "\xe2\x80\xa6");
}

const char *cli_status_text(kc_task_status s, kc_task_activity a, char *buf, size_t len)
{
	if (s == KC_TASK_STATUS_RUNNING && a != KC_TASK_ACTIVITY_UNSPECIFIED)
		snprintf(buf, len, "%s (%s)", kc_task_status_name(s), kc_task_activity_name(a));
	else
		snprintf(buf, len, "%s", kc_task_status_name(s));
	return buf;
}

void cli_print_json_and_free(char *s)
{
	puts(s);
	kc_free(s);
}

/* Prints a small JSON object made here and frees it. */
void cli_print_obj(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	if (s)
		puts(s);
	free(s);
	json_decref(j);
}

int cli_print_task(const struct cli_opts *o, const kc_task *t)
{
	if (o->json) {
		char *s = NULL;
		int rc = kc_task_to_json(t, &s);
		if (rc)
			return rc;
		cli_print_json_and_free(s);
		return 0;
	}
	char b1[64], b2[64];
	char st[64];
	printf("task_id:       %s\n", t->task_id);
	printf("status:        %s\n", cli_status_text(t->status, t->status_detail, st, sizeof st));
	if (t->error)
		printf("error:         %s\n", t->error);
	printf("agent:         %s\n", t->agent);
	printf("created:       %s\n", cli_ago(t->created_at, b1, sizeof b1));
	if (t->finished_at > 0)
		printf("finished:      %s (ran %s)\n", cli_ago(t->finished_at, b1, sizeof b1),
		       cli_duration(t->finished_at - t->created_at, b2, sizeof b2));
	if (t->killed_at > 0)
		printf("killed:        %s\n", cli_ago(t->killed_at, b1, sizeof b1));
	printf("workdir:       %s\n", t->workdir);
	printf("tmux_session:  %s\n", t->tmux_session);
	printf("session_id:    %s\n", t->session_id);
	printf("prompt:        %s\n", t->prompt);
	for (size_t i = 0; i < t->n_followups; i++)
		printf("followup:      %s (%s)\n", t->followups[i].prompt,
		       cli_ago(t->followups[i].sent_at, b1, sizeof b1));
	if (t->recent_output && t->recent_output[0]) {
		printf("recent output:\n");
		fputs(t->recent_output, stdout);
		if (t->recent_output[strlen(t->recent_output) - 1] != '\n')
			putchar('\n');
	}
	return 0;
}

/* {"task_id":...,"status":"killed","killed_at":...}, the REST answer to a
 * kill, with the time in its shortest round-trip form as the library
 * prints timestamps. */
void cli_print_killed(const char *id, double killed_at)
{
	json_t *js = json_string(id);
	char *ids = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
	json_decref(js);
	char num[64];
	for (int p = 15; p <= 17; p++) {
		snprintf(num, sizeof num, "%.*g", p, killed_at);
		if (strtod(num, NULL) == killed_at)
			break;
	}
	if (!strpbrk(num, ".eE"))
		strcat(num, ".0");
	printf("{\"task_id\":%s,\"status\":\"killed\",\"killed_at\":%s}\n", ids ? ids : "\"\"", num);
	free(ids);
}
