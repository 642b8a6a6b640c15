/*
 * answer.c - kc-server's answers as JSON, raw HttpBody bytes or a health
 * verdict (see answer.h).
 */
#include "gateway/answer.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "google/api/httpbody.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "transcode/transcode.h"

/*
 * A bump allocator for unpacking one answer: a 100-task list unpacks into
 * some 700 strings and submessages, and malloc/free of each was a fifth of
 * the loop's time. Everything is freed at once after the answer is
 * rendered. The first chunk is twice the wire length (a 28 KB list
 * unpacks into ~22 KB: strings plus small structs); more chunks come as
 * needed, each twice the last.
 */
typedef struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t cap;
	max_align_t data[];
} arena_chunk;

typedef struct arena {
	arena_chunk *head;
	size_t next_cap;
	ProtobufCAllocator alloc;
} arena;

static void *arena_alloc(void *ud, size_t size)
{
	arena *a = ud;
	arena_chunk *c = a->head;
	size_t need = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);

	if (!c || c->cap - c->used < need) {
		size_t cap = need > a->next_cap ? need : a->next_cap;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->next_cap = cap * 2;
	}
	c->used += need;
	return (char *)c->data + c->used - need;
}

static void arena_free_one(void *ud, void *p)
{
	/* Freed with the arena. */
	(void)ud;
	(void)p;
}

static void arena_release(arena *a)
{
	while (a->head) {
		arena_chunk *c = a->head;

		a->head = c->next;
		free(c);
	}
}

/* Unpacks into `a` (released by the caller whatever happens); NULL when
 * the bytes are not such a message. */
static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, arena *a)
{
	a->head = NULL;
	a->next_cap = 2 * len + 1024;
	a->alloc = (ProtobufCAllocator){arena_alloc, arena_free_one, a};
	return protobuf_c_message_unpack(d, &a->alloc, len, data);
}

int kc_gw_answer_json(const ProtobufCMessageDescriptor *d, const char *field, const uint8_t *data, size_t len,
                      kc_buf *out)
{
	arena a;
	ProtobufCMessage *m = unpack(d, data, len, &a);
	int rc = KC_ERR_PROTOCOL;

	if (m) {
		/* JSON runs about 1.5x the wire size (names, quotes): one
		 * allocation instead of a chain of doublings. */
		kc_buf_reserve(out, len + len / 2 + 256);
		rc = kc_message_to_json(m, field, out);
	}
	arena_release(&a);
	return rc;
}

int kc_gw_answer_http_body(const uint8_t *data, size_t len, kc_buf *out, char **content_type)
{
	arena a;
	Google__Api__HttpBody *hb = (void *)unpack(&google__api__http_body__descriptor, data, len, &a);
	int rc = KC_ERR_PROTOCOL;

	*content_type = NULL;
	if (hb) {
		kc_buf_append(out, hb->data.data, hb->data.len);
		rc = out->err;
		if (!rc && hb->content_type && *hb->content_type) {
			*content_type = strdup(hb->content_type);
			rc = *content_type ? 0 : KC_ERR_NOMEM;
		}
	}
	arena_release(&a);
	return rc;
}

int kc_gw_answer_health(const uint8_t *data, size_t len, bool *serving)
{
	Grpc__Health__V1__HealthCheckResponse *h = grpc__health__v1__health_check_response__unpack(NULL, len, data);

	if (!h)
		return KC_ERR_PROTOCOL;
	*serving = h->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	grpc__health__v1__health_check_response__free_unpacked(h, NULL);
	return 0;
}
