// SPDX-License-Identifier: BSD-2-Clause
/* The replay main shared by every fuzz target when libFuzzer is not linked: runs each seed
 * file given (or each file of each directory given) and a fixed number of seeded random
 * mutations of it, so ctest exercises the parsers under ASan/UBSan on every run. The first
 * input byte is left to the target (it usually picks the parser). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef BPFDIAG_LIBFUZZER
#define FUZZ_MAX_INPUT 65536

/* FUZZ_MUTATIONS in the environment overrides the number of mutations per seed. */
static long mutations = 20000;

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
	static uint8_t buf[FUZZ_MAX_INPUT];

	for (long i = 0; i < mutations; i++) {
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
	static uint8_t seed[FUZZ_MAX_INPUT];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(seed, 1, sizeof(seed), f);
	fclose(f);
	LLVMFuzzerTestOneInput(seed, n);
	mutate_and_run(seed, n);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0, bad = 0;
	const char *env = getenv("FUZZ_MUTATIONS");

	if (env)
		mutations = strtol(env, NULL, 10);

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
	printf("%s: %d seeds, %ld runs each\n", argv[0], files, mutations + 1);
	return bad || files == 0;
}
#endif
