/*
 * list_tasks - the smallest libkcclient program: list a workspace's tasks,
 * start one, follow it to its end with a watch, print its output.
 *
 *   cc list_tasks.c $(pkg-config --cflags --libs kcclient) -o list_tasks
 *   KC_URL=https://alice.dev.example.com KC_TOKEN=... ./list_tasks "say hello"
 *
 * KC_URL may be grpc://host:port or unix:/path as well: the code is the
 * same for every transport.
 */
#include <stdio.h>
#include <stdlib.h>

#include <kc/client.h>

static int on_event(const kc_event *ev, void *user_data)
{
	(void)user_data;
	if (ev->type == KC_EVENT_OUTPUT)
		fwrite(ev->text, 1, ev->len, stdout);
	else
		fprintf(stderr, "[%s %s]\n", ev->task->task_id, kc_task_status_name(ev->task->status));
	return 0; /* keep watching until the task ends */
}

int main(int argc, char **argv)
{
	const char *url = getenv("KC_URL"), *token = getenv("KC_TOKEN");
	if (!url) {
		fprintf(stderr, "usage: KC_URL=... KC_TOKEN=... %s [PROMPT]\n", argv[0]);
		return 2;
	}
	kc_client *c = NULL;
	int rc = kc_client_new(&c, url, token);
	if (rc) {
		fprintf(stderr, "%s: %s\n", url, kc_strerror(rc));
		return 1;
	}

	kc_task_list *list = NULL;
	rc = kc_task_list_get(c, 0, NULL, KC_TASK_STATUS_UNSPECIFIED, &list);
	if (rc)
		goto fail;
	printf("%zu task(s)\n", list->n_tasks);
	for (size_t i = 0; i < list->n_tasks; i++)
		printf("%s %-9s %s\n", list->tasks[i].task_id, kc_task_status_name(list->tasks[i].status),
		       list->tasks[i].prompt);
	kc_task_list_free(list);

	if (argc > 1) {
		kc_task *t = NULL;
		rc = kc_task_create(c, argv[1], NULL, NULL, &t);
		if (rc)
			goto fail;
		printf("started %s\n", t->task_id);
		rc = kc_task_watch(c, t->task_id, true, on_event, NULL);
		kc_task_free(t);
		if (rc)
			goto fail;
	}
	kc_client_free(c);
	return 0;
fail:
	fprintf(stderr, "error: %s (%s)\n", kc_client_last_error(c), kc_error_name(rc));
	kc_client_free(c);
	return 1;
}
