#include "gateway/router.h"

#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "common/percent.h"
#include "common/utf8.h"

#define OAUTH_PREFIX "/oauth"
#define MAX_SEGMENTS 64

/* One segment of the request path, raw and percent-decoded. */
struct segment {
	const char *raw;
	size_t raw_len;
	char *decoded; /* NUL-terminated, owned by struct split */
	size_t len;
};

struct split {
	struct segment seg[MAX_SEGMENTS];
	size_t n;
	char *store; /* all decoded segments, back to back */
};

static void split_release(struct split *s)
{
	free(s->store);
	s->store = NULL;
}

/* Splits "/a/b/c" into decoded segments. Refuses anything the header says
 * it refuses; a refusal is simply "no route". */
static int split_path(const char *path, size_t len, struct split *s)
{
	s->n = 0;
	s->store = NULL;
	if (len < 2 || path[0] != '/')
		return KC_ERR_NOT_FOUND;
	s->store = malloc(len + 1);
	if (!s->store)
		return KC_ERR_NOMEM;

	char *dst = s->store;
	size_t i = 1;
	for (;;) {
		const char *start = path + i;
		const char *slash = memchr(start, '/', len - i);
		size_t raw_len = slash ? (size_t)(slash - start) : len - i;
		if (raw_len == 0 || s->n == MAX_SEGMENTS)
			goto refuse; /* "//", trailing "/", or absurdly deep */
		long dlen = kc_percent_decode(start, raw_len, dst, false);
		if (dlen < 0)
			goto refuse;
		if (strcmp(dst, ".") == 0 || strcmp(dst, "..") == 0)
			goto refuse;
		s->seg[s->n++] = (struct segment){start, raw_len, dst, (size_t)dlen};
		dst += dlen + 1;
		if (!slash)
			return KC_OK;
		i += raw_len + 1;
	}
refuse:
	split_release(s);
	return KC_ERR_NOT_FOUND;
}

/* A decoded value may become a protobuf string and a file name on the
 * server: it must be valid UTF-8 without control characters. */
static bool value_ok(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	return kc_utf8_valid(v, len);
}

/* Does `route`'s template match the segments? Fills bindings on success
 * (pointing into `s`; copied out by the caller). */
static bool template_matches(const kc_route *route, const struct split *s, const char **values, size_t *value_lens)
{
	size_t si = 0, nb = 0;
	for (size_t t = 0; t < route->n_segments; t++) {
		const kc_route_segment *seg = &route->segments[t];
		if (si >= s->n)
			return false;
		switch (seg->kind) {
		case KC_SEGMENT_LITERAL:
			if (strcmp(seg->text, s->seg[si].decoded) != 0)
				return false;
			si++;
			break;
		case KC_SEGMENT_FIELD:
			/* An encoded slash would smuggle a second segment in. */
			if (memchr(s->seg[si].decoded, '/', s->seg[si].len) ||
			    !value_ok(s->seg[si].decoded, s->seg[si].len) || nb == KC_ROUTE_MAX_BINDINGS)
				return false;
			values[nb] = s->seg[si].decoded;
			value_lens[nb++] = s->seg[si].len;
			si++;
			break;
		case KC_SEGMENT_FIELD_REST:
			/* Only last; binds the raw remainder, each part checked. */
			if (nb == KC_ROUTE_MAX_BINDINGS)
				return false;
			for (size_t k = si; k < s->n; k++)
				if (memchr(s->seg[k].decoded, '/', s->seg[k].len) ||
				    !value_ok(s->seg[k].decoded, s->seg[k].len))
					return false;
			values[nb] = NULL; /* joined by the caller */
			value_lens[nb++] = si;
			si = s->n;
			break;
		}
	}
	return si == s->n;
}

static void allow_add(char *allow, size_t allow_len, const char *method)
{
	if (!allow || !allow_len)
		return;
	/* Skip duplicates: "GET" twice would read oddly in an Allow header. */
	size_t mlen = strlen(method);
	for (const char *p = allow; (p = strstr(p, method)) != NULL; p += mlen)
		if ((p == allow || p[-1] == ' ') && (p[mlen] == ',' || p[mlen] == '\0'))
			return;
	size_t used = strlen(allow);
	if (used + (used ? 2 : 0) + mlen + 1 > allow_len)
		return;
	if (used)
		memcpy(allow + used, ", ", 2), used += 2;
	memcpy(allow + used, method, mlen + 1);
}

/* Joins segments [from, n) with '/' into a new string. */
static char *join_rest(const struct split *s, size_t from)
{
	size_t total = 0;
	for (size_t k = from; k < s->n; k++)
		total += s->seg[k].len + 1;
	char *v = malloc(total ? total : 1);
	if (!v)
		return NULL;
	size_t o = 0;
	for (size_t k = from; k < s->n; k++) {
		if (o)
			v[o++] = '/';
		memcpy(v + o, s->seg[k].decoded, s->seg[k].len);
		o += s->seg[k].len;
	}
	v[o] = '\0';
	return v;
}

int kc_route_find(const kc_route *routes, size_t n_routes, const char *method, const char *path, size_t path_len,
                  kc_route_match *out, char *allow, size_t allow_len)
{
	if (allow && allow_len)
		allow[0] = '\0';
	if (path_len > KC_ROUTE_MAX_PATH)
		return KC_ERR_TOO_LARGE;

	bool oauth = false;
	const size_t plen = sizeof OAUTH_PREFIX - 1;
	if (path_len > plen && memcmp(path, OAUTH_PREFIX, plen) == 0 && path[plen] == '/') {
		oauth = true;
		path += plen;
		path_len -= plen;
	}

	struct split s;
	int rc = split_path(path, path_len, &s);
	if (rc)
		return rc;

	const char *values[KC_ROUTE_MAX_BINDINGS];
	size_t value_lens[KC_ROUTE_MAX_BINDINGS];
	const kc_route *found = NULL;
	bool path_known = false;
	for (size_t r = 0; r < n_routes; r++) {
		if (!template_matches(&routes[r], &s, values, value_lens))
			continue;
		path_known = true;
		if (strcmp(routes[r].http_method, method) == 0) {
			found = &routes[r];
			break;
		}
		allow_add(allow, allow_len, routes[r].http_method);
	}
	if (!found) {
		split_release(&s);
		return path_known ? KC_ERR_METHOD : KC_ERR_NOT_FOUND;
	}

	/* Re-run the winning template to collect its bindings (the loop above
	 * may have overwritten them with a later near-miss's). */
	template_matches(found, &s, values, value_lens);
	kc_route_match m = {.route = found, .oauth = oauth, .n_bindings = 0};
	rc = KC_OK;
	for (size_t t = 0, nb = 0; t < found->n_segments; t++) {
		const kc_route_segment *seg = &found->segments[t];
		if (seg->kind == KC_SEGMENT_LITERAL)
			continue;
		char *v =
		    seg->kind == KC_SEGMENT_FIELD ? strndup(values[nb], value_lens[nb]) : join_rest(&s, value_lens[nb]);
		nb++;
		if (!v) {
			rc = KC_ERR_NOMEM;
			break;
		}
		m.bindings[m.n_bindings++] = (kc_route_binding){seg->text, v};
	}
	split_release(&s);
	if (rc) {
		kc_route_match_release(&m);
		return rc;
	}
	*out = m;
	return KC_OK;
}

void kc_route_match_release(kc_route_match *m)
{
	for (size_t i = 0; i < m->n_bindings; i++)
		free(m->bindings[i].value);
	m->n_bindings = 0;
}

const char *kc_route_match_get(const kc_route_match *m, const char *field)
{
	for (size_t i = 0; i < m->n_bindings; i++)
		if (strcmp(m->bindings[i].field, field) == 0)
			return m->bindings[i].value;
	return NULL;
}
