/* SPDX-License-Identifier: BSD-2-Clause */
/* Hostile strings through every encoder, shared by the unit tests, the fuzz target and
 * exporter_fixture: a snapshot whose every outside string is made of given bytes, and a check
 * that the Prometheus text, the JSON answers and the OTLP request made of it are well-formed. */
#ifndef BPFDIAG_TEST_HOSTILE_H
#define BPFDIAG_TEST_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"
#include "model/snapshot.h"

/* Returns a snapshot (two series with counters, own labels and a histogram, a pod, a finding)
 * whose strings are the NUL-separated pieces of data, reused in turn; NULL when out of memory. */
struct snapshot *hostile_snapshot(const uint8_t *data, size_t n);

/* The three renderings of s. Returns 0 or -ENOMEM. */
struct hostile_out {
	struct strbuf prom, pods, findings;
	uint8_t *otlp;
	size_t otlp_len;
};
int hostile_render(const struct snapshot *s, struct hostile_out *ret);
void hostile_out_reset(struct hostile_out *o);

/* Checks o: the Prometheus text is UTF-8 with well-formed sample lines and quoted label values,
 * both JSON answers parse (strict, UTF-8 validated), every string of the OTLP request is
 * UTF-8. Returns 0, or -1 with a reason in why. */
int hostile_check(const struct hostile_out *o, char *why, size_t whylen);

#endif
