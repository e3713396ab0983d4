// SPDX-License-Identifier: BSD-2-Clause
/* Fuzz target for the exporters' parsers of outside input: the OTLP receiver's answer
 * (ExportMetricsServiceResponse), OTEL_* key=value lists, endpoint URLs, Retry-After values,
 * Accept-Encoding and Authorization headers; and the encoders fed arbitrary bytes in every
 * label (after the snapshot's one UTF-8 repair, every output must stay well-formed). The first
 * input byte picks the target.
 *
 * With -fsanitize=fuzzer (clang) this is a libFuzzer target. Otherwise the replay main below
 * runs every file given (seeds in tests/fuzz/corpus/exporters/) and a fixed number of seeded
 * random mutations of them, so ctest exercises the parsers under ASan/UBSan on every run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/http.h"
#include "transport/http_auth.h"
#include "codec/otlp.h"
#include "transport/otlp_config.h"
#include "hostile.h"

/* Arbitrary bytes in every string of a snapshot: the outputs must stay well-formed. */
static void encoders(const uint8_t *data, size_t size)
{
	struct snapshot *s = hostile_snapshot(data, size);
	struct hostile_out o;
	char why[256];

	if (!s)
		return;
	snapshot_sanitize(s);
	if (hostile_render(s, &o) == 0) {
		if (hostile_check(&o, why, sizeof(why))) {
			fprintf(stderr, "fuzz_exporters: %s\n", why);
			abort();
		}
		hostile_out_reset(&o);
	}
	snapshot_unref(s);
}

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
	switch ((data[0] & 0x7f) % 7) {
	case 0:
		otlp_decode_response(data + 1, size - 1, &rejected, msg, sizeof(msg));
		otlp_decode_response_prefix(data + 1, size - 1, &rejected, msg, sizeof(msg));
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
	case 6:
		encoders(data + 1, size - 1);
		break;
	}
	free(s);
	return 0;
}
