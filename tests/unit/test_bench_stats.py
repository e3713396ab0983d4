#!/usr/bin/env python3
"""The statistics of tools/bench/bench.py's section 2: the median's confidence interval, the
goal verdicts and the per-workload summary (no root, no workload run)."""
import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "bench"))
import bench  # noqa: E402


class MedianCI(unittest.TestCase):
    def test_order_statistics(self):
        # n = 10: P(B <= 1) = 11/1024 <= 2.5 % < P(B <= 2) = 56/1024, so x(2) .. x(9).
        m, lo, hi = bench.median_ci(list(range(10, 0, -1)))
        self.assertEqual((m, lo, hi), (5.5, 2, 9))
        # n = 12: P(B <= 2) = 79/4096 <= 2.5 % < P(B <= 3) = 299/4096, so x(3) .. x(10).
        self.assertEqual(bench.median_ci(list(range(1, 13)))[1:], (3, 10))
        # n = 6: P(B = 0) = 1/64 <= 2.5 %: x(1) .. x(6), the whole range.
        self.assertEqual(bench.median_ci([3, 1, 2, 6, 5, 4])[1:], (1, 6))

    def test_too_few_values_give_the_range(self):
        self.assertEqual(bench.median_ci([2.0, 1.0, 3.0]), (2.0, 1.0, 3.0))
        self.assertEqual(bench.median_ci([4.0]), (4.0, 4.0, 4.0))
        self.assertTrue(all(math.isnan(x) for x in bench.median_ci([])))

    def test_coverage(self):
        # The interval holds the true median in at least 95 % of samples.
        rng = random.Random(19)
        hits = 0
        for _ in range(2000):
            _, lo, hi = bench.median_ci([rng.gauss(1.0, 0.05) for _ in range(10)])
            hits += lo <= 1.0 <= hi
        self.assertGreaterEqual(hits / 2000, 0.95)


class Verdict(unittest.TestCase):
    def test_verdicts(self):
        self.assertEqual(bench.verdict(-0.02, 0.008, 0.01), "met")
        self.assertEqual(bench.verdict(0.012, 0.05, 0.01), "not met")
        self.assertEqual(bench.verdict(0.002, 0.03, 0.01), "within noise")
        self.assertEqual(bench.verdict(0.0, 0.01, 0.01), "met")
        # One pair (--quick) has no interval to judge by.
        self.assertEqual(bench.verdict(0.05, 0.05, 0.01, n=1), "too few pairs")
        self.assertEqual(bench.verdict(0.05, 0.06, 0.01, n=6), "not met")


class Summarize(unittest.TestCase):
    def test_pairs(self):
        offs = [100.0, 102, 98, 101, 99, 100, 103, 97, 100, 100]
        ons = [o * r for o, r in zip(offs, [0.95, 0.96, 0.94, 0.95, 0.97, 0.93, 0.95, 0.96,
                                            0.95, 0.94])]
        w = bench.summarize(offs, ons)
        self.assertAlmostEqual(w["ratio"], 0.95)
        self.assertAlmostEqual(w["lo"], 0.94)
        self.assertAlmostEqual(w["hi"], 0.96)
        self.assertEqual(w["off"], 100.0)
        self.assertGreater(w["spread"], 0)
        self.assertLess(w["spread"], 0.02)
        # A 5 % loss with this interval is clearly beyond a 1 % goal.
        self.assertEqual(bench.verdict(1 - w["hi"], 1 - w["lo"], 0.01), "not met")

    def test_goal_lines(self):
        offs = [100.0] * 10
        over = {"fio IOPS": bench.summarize(offs, [99.9] * 10),
                "iperf3 bit/s": bench.summarize(offs, [90.0, 110] * 5),
                "stress-ng switch ops/s": bench.summarize(offs, [90.0] * 10),
                "getppid calls/s": bench.summarize(offs, [99.0] * 10)}
        lines = {g: (m, ok) for g, m, ok in bench.goals([], over, [])}
        self.assertEqual(lines["fio IOPS loss ≤ 1 %"][1], "met")
        self.assertEqual(lines["iperf3 bit/s loss ≤ 1 %"][1], "within noise")
        self.assertEqual(lines["stress-ng switch ops/s loss ≤ 5 %"][1], "not met")
        self.assertEqual(lines["getppid (untraced system call) tax ≤ +2 %"][1], "met")
        self.assertIn("95 % CI", lines["iperf3 bit/s loss ≤ 1 %"][0])
        one = {"iperf3 bit/s": bench.summarize([100.0], [90.0])}
        lines = {g: ok for g, _, ok in bench.goals([], one, [])}
        self.assertEqual(lines["iperf3 bit/s loss ≤ 1 %"], "too few pairs")


if __name__ == "__main__":
    unittest.main()
