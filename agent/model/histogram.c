// SPDX-License-Identifier: BSD-2-Clause
#include "model/histogram.h"

const double hist_bounds[HIST_SLOTS - 1] = {
	1.024e-6,     2.048e-6,	    4.096e-6,	   8.192e-6,	  16.384e-6,
	32.768e-6,    65.536e-6,    131.072e-6,	   262.144e-6,	  524.288e-6,
	1.048576e-3,  2.097152e-3,  4.194304e-3,   8.388608e-3,	  16.777216e-3,
	33.554432e-3, 67.108864e-3, 134.217728e-3, 268.435456e-3,
};

double hist_quantile(const uint64_t *counts, double q)
{
	uint64_t total = 0, cum = 0;

	for (int i = 0; i < HIST_SLOTS; i++)
		total += counts[i];
	if (!total)
		return 0;
	for (int i = 0; i < HIST_SLOTS; i++) {
		cum += counts[i];
		if ((double)cum >= q * (double)total)
			return i < HIST_SLOTS - 1 ? hist_bounds[i] :
						    hist_bounds[HIST_SLOTS - 2] * 2;
	}
	return 0;
}
