// SPDX-License-Identifier: BSD-2-Clause
/* bench_floor: attaches the empty sched_switch program and waits for SIGTERM/SIGINT. Prints
 * "ready" once attached. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "floor.skel.h"

int main(void)
{
	struct floor_bpf *skel = NULL;
	sigset_t set;
	int sig, err = 1;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	skel = floor_bpf__open_and_load();
	if (!skel || floor_bpf__attach(skel)) {
		fprintf(stderr, "bench_floor: cannot load or attach the floor program\n");
		goto cleanup;
	}
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	err = 0;
cleanup:
	floor_bpf__destroy(skel);
	return err;
}
