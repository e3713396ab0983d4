// SPDX-License-Identifier: BSD-2-Clause
/* The pod sandbox's process: holds the pod's namespaces open until it is told to stop, and reaps
 * the zombies it inherits as PID 1 of a shared PID namespace. Built static into a scratch image
 * (tools/cluster/cluster), since no registry serves the upstream one here. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig)
{
	(void)sig;
	_exit(0);
}

static void reap(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { 0 };

	if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') {
		puts("pause (bpfdiag test cluster)");
		return 0;
	}
	if (getpid() != 1)
		fprintf(stderr, "pause: warning: not running as PID 1\n");
	sa.sa_handler = stop;
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		return 1;
	sa.sa_handler = reap;
	sa.sa_flags = SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL))
		return 2;
	for (;;)
		pause();
}
