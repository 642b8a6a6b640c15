/*
 * A stand-in for libFuzzer's main(), so every fuzz target also runs as an
 * ordinary test: each seed file given on the command line is fed to the
 * target as is, then --runs=N inputs made by mutating the seeds with a fixed
 * pseudo-random sequence (bit flips, byte swaps, truncation, splicing,
 * interesting bytes). Deterministic, so a failure reproduces; bounded, so it
 * finishes in seconds. Crashes and sanitizer reports fail the test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 65536

struct seed {
	uint8_t *data;
	size_t len;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: fast, good enough, and the same on every machine. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static int read_seed(const char *path, struct seed *s)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	s->data = malloc(MAX_INPUT);
	if (!s->data) {
		fclose(f);
		return -1;
	}
	s->len = fread(s->data, 1, MAX_INPUT, f);
	fclose(f);
	return 0;
}

static size_t mutate(uint8_t *buf, size_t len, const struct seed *seeds, size_t n_seeds)
{
	static const uint8_t interesting[] = {0x00, 0xff, 0x7f, 0x80, '\r', '\n', '"', '\\', '{', '}',  '[', ']',
	                                      ':',  ',',  '/',  '%',  '.',  '?',  '=', '&',  ' ', 0xc0, 0xed};
	int steps = 1 + (int)(rng() % 4);
	for (int i = 0; i < steps; i++) {
		switch (rng() % 7) {
		case 0: /* flip a bit */
			if (len)
				buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
			break;
		case 1: /* set an interesting byte */
			if (len)
				buf[rng() % len] = interesting[rng() % sizeof interesting];
			break;
		case 2: /* insert an interesting byte */
			if (len < MAX_INPUT) {
				size_t at = len ? rng() % (len + 1) : 0;
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = interesting[rng() % sizeof interesting];
				len++;
			}
			break;
		case 3: /* delete a run */
			if (len) {
				size_t at = rng() % len, n = 1 + rng() % (len - at);
				memmove(buf + at, buf + at + n, len - at - n);
				len -= n;
			}
			break;
		case 4: /* truncate */
			if (len)
				len = rng() % len;
			break;
		case 5: /* duplicate a run */
			if (len && len < MAX_INPUT / 2) {
				size_t at = rng() % len, n = 1 + rng() % (len - at);
				memmove(buf + at + n, buf + at, len - at);
				len += n;
			}
			break;
		default: /* splice in part of another seed */
			if (n_seeds) {
				const struct seed *o = &seeds[rng() % n_seeds];
				if (o->len) {
					size_t from = rng() % o->len, n = 1 + rng() % (o->len - from);
					size_t at = len ? rng() % len : 0;
					if (at + n > MAX_INPUT)
						n = MAX_INPUT - at;
					memcpy(buf + at, o->data + from, n);
					if (at + n > len)
						len = at + n;
				}
			}
			break;
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	long runs = 10000;
	struct seed *seeds = calloc((size_t)argc, sizeof *seeds);
	size_t n_seeds = 0;
	if (!seeds)
		return 1;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--runs=", 7) == 0) {
			runs = strtol(argv[i] + 7, NULL, 10);
			continue;
		}
		if (read_seed(argv[i], &seeds[n_seeds]) != 0)
			return 1;
		n_seeds++;
	}

	/* The seeds as they are, then the empty input. */
	for (size_t i = 0; i < n_seeds; i++)
		LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].len);
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);

	uint8_t *buf = malloc(MAX_INPUT);
	if (!buf)
		return 1;
	for (long r = 0; r < runs; r++) {
		size_t len = 0;
		if (n_seeds) {
			const struct seed *s = &seeds[rng() % n_seeds];
			memcpy(buf, s->data, s->len);
			len = s->len;
		}
		len = mutate(buf, len, seeds, n_seeds);
		/* An exact-size copy, so ASan sees reads past the end. */
		uint8_t *input = malloc(len ? len : 1);
		if (!input)
			return 1;
		memcpy(input, buf, len);
		LLVMFuzzerTestOneInput(input, len);
		free(input);
	}
	printf("fuzz driver: %zu seeds, %ld mutated runs, no crash\n", n_seeds, runs);

	free(buf);
	for (size_t i = 0; i < n_seeds; i++)
		free(seeds[i].data);
	free(seeds);
	return 0;
}
