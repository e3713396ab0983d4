/* Fuzz target for the exporters' parsers of outside input: the OTLP receiver's answer
 * (ExportMetricsServiceResponse), OTEL_* key=value lists, endpoint URLs, Retry-After values,
 * Accept-Encoding and Authorization headers. The first input byte picks the parser.
 *
 * With -fsanitize=fuzzer (clang) this is a libFuzzer target. Otherwise the replay main below
 * runs every file given (seeds in tests/fuzz/corpus/exporters/) and a fixed number of seeded
 * random mutations of them, so ctest exercises the parsers under ASan/UBSan on every run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http_auth.h"
#include "otlp.h"
#include "otlp_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, err[128], msg[64], *url = NULL;
	struct otlp_kv *kv = NULL;
	const char *tok;
	int64_t rejected;
	size_t n, tl;
	double secs;

	if (size == 0)
		return 0;
	/* the string parsers see a NUL-terminated copy, as getenv and libmicrohttpd give them */
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch ((data[0] & 0x7f) % 6) {
	case 0:
		otlp_decode_response(data + 1, size - 1, &rejected, msg, sizeof(msg));
		break;
	case 1:
		if (otlp_parse_kv_list(s, &kv, &n, err, sizeof(err)) == 0)
			otlp_kv_free(kv, n);
		break;
	case 2:
		otlp_parse_retry_after(s, 1700000000, &secs);
		break;
	case 3:
		http_accepts_gzip(s);
		break;
	case 4:
		if (http_bearer_token(s, &tok, &tl) && (tok < s || tok + tl > s + size))
			abort();
		break;
	case 5:
		if (otlp_endpoint_url(s, data[0] & 0x80, &url, err, sizeof(err)) == 0)
			free(url);
		break;
	}
	free(s);
	return 0;
}

#ifndef BPFDIAG_LIBFUZZER
#define MUTATIONS_PER_SEED 20000
#define FUZZ_MAX_INPUT 4096

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const uint8_t specials[] = { ',',  '=', '%',  ';', ':',	' ', '\t', '\r',
				    '\n', '"', '\\', 0,	  0xff, '/', '@' };

static void mutate_and_run(const uint8_t *seed, size_t len)
{
	uint8_t buf[FUZZ_MAX_INPUT];

	for (int i = 0; i < MUTATIONS_PER_SEED; i++) {
		size_t n = len < FUZZ_MAX_INPUT ? len : FUZZ_MAX_INPUT;

		memcpy(buf, seed, n);
		for (int k = (int)(next() % 8) + 1; k > 0; k--) {
			uint64_t r = next();

			switch (r % 4) {
			case 0: /* flip a byte */
				if (n > 1)
					buf[1 + (r >> 8) % (n - 1)] ^= (uint8_t)(r >> 32);
				break;
			case 1: /* insert a byte */
				if (n < FUZZ_MAX_INPUT && n > 1) {
					size_t at = 1 + (r >> 8) % (n - 1);

					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = (uint8_t)(r >> 40);
					n++;
				}
				break;
			case 2: /* cut the tail */
				if (n > 1)
					n = 1 + (r >> 8) % n;
				break;
			default: /* a byte the parsers give meaning to */
				if (n > 1)
					buf[1 + (r >> 8) % (n - 1)] =
						specials[(r >> 40) % sizeof(specials)];
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
}

static int run_file(const char *path)
{
	uint8_t buf[FUZZ_MAX_INPUT];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	mutate_and_run(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0, bad = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (!d) {
			bad |= run_file(argv[i]);
			files++;
			continue;
		}
		while ((e = readdir(d))) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			bad |= run_file(path);
			files++;
		}
		closedir(d);
	}
	printf("fuzz_exporters: %d seeds, %d runs each\n", files, MUTATIONS_PER_SEED + 1);
	return bad || files == 0;
}
#endif
