#include "gateway/http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/kc_error.h"
#include "transcode/transcode.h"

const char *kc_http_header(const kc_http_request *req, const char *lower_name)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (strcmp(req->headers[i].name, lower_name) == 0)
			return req->headers[i].value;
	return NULL;
}

size_t kc_http_header_count(const kc_http_request *req, const char *lower_name)
{
	size_t i;
	size_t n = 0;

	for (i = 0; i < req->n_headers; i++)
		if (strcmp(req->headers[i].name, lower_name) == 0)
			n++;
	return n;
}

void kc_http_request_release(kc_http_request *req)
{
	size_t i;

	free(req->method);
	free(req->target);
	for (i = 0; i < req->n_headers; i++) {
		free((char *)req->headers[i].name);
		free((char *)req->headers[i].value);
	}
	kc_buf_release(&req->body);
	memset(req, 0, sizeof(*req));
}

int kc_http_request_add_header(kc_http_request *req, const char *name, size_t nlen, const char *value, size_t vlen)
{
	char *n;
	char *v;
	size_t i;

	if (req->n_headers >= KC_HTTP_MAX_HEADERS)
		return KC_ERR_TOO_LARGE;
	/* Trim optional white space around the value. */
	while (vlen && (value[0] == ' ' || value[0] == '\t')) {
		value++;
		vlen--;
	}
	while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		vlen--;
	if (memchr(value, '\0', vlen) || memchr(name, '\0', nlen))
		return KC_ERR_INVALID;
	n = strndup(name, nlen);
	v = strndup(value, vlen);
	if (!n || !v) {
		free(n);
		free(v);
		return KC_ERR_NOMEM;
	}
	for (i = 0; i < nlen; i++)
		n[i] = (char)tolower((unsigned char)n[i]);
	req->headers[req->n_headers].name = n;
	req->headers[req->n_headers].value = v;
	req->n_headers++;
	return 0;
}

int kc_http_request_set_line(kc_http_request *req, const char *method, size_t mlen, const char *target, size_t tlen)
{
	const char *q;

	free(req->method);
	free(req->target);
	req->method = strndup(method, mlen);
	req->target = strndup(target, tlen);
	if (!req->method || !req->target)
		return KC_ERR_NOMEM;
	if (memchr(target, '\0', tlen))
		return KC_ERR_INVALID;
	req->head = strcmp(req->method, "HEAD") == 0;
	req->path = req->target;
	q = memchr(req->target, '?', tlen);
	if (q) {
		req->path_len = (size_t)(q - req->target);
		req->query = q + 1;
		req->query_len = tlen - req->path_len - 1;
	} else {
		req->path_len = tlen;
		req->query = req->target + tlen;
		req->query_len = 0;
	}
	return 0;
}

const char *kc_http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 499:
		return "Client Closed Request";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

int kc_http_error_body(kc_buf *out, const char *message)
{
	kc_buf_puts(out, "{\"error\":");
	kc_json_put_string(out, message, strlen(message));
	kc_buf_putc(out, '}');
	return out->err;
}

struct kc_shared_body {
	/* The loop thread is the only user: a plain count. */
	unsigned long refs;
	size_t len;
	char *data;
};

kc_shared_body *kc_shared_body_new(char *data, size_t len)
{
	kc_shared_body *b = malloc(sizeof(*b));

	if (!b) {
		free(data);
		return NULL;
	}
	b->refs = 1;
	b->len = len;
	b->data = data;
	return b;
}

kc_shared_body *kc_shared_body_ref(kc_shared_body *b)
{
	b->refs++;
	return b;
}

void kc_shared_body_unref(kc_shared_body *b)
{
	if (b && --b->refs == 0) {
		free(b->data);
		free(b);
	}
}

const char *kc_shared_body_data(const kc_shared_body *b)
{
	return b->data ? b->data : "";
}

size_t kc_shared_body_len(const kc_shared_body *b)
{
	return b->len;
}
