"""`make run` on a machine that is no Kubernetes node of its own (issue 21), as a user runs it,
non-interactively: `make run ONCE=1` brings up the single-node cluster (already up under the
`cluster` fixture: reused), loads the images (cached: unchanged since the fixture's setup),
installs charts/bpfdiag and the demo's releases, waits for the demo's findings, prints
`bpfdiag top --once` from the agent pod and tears everything down.

Asserted: each long step printed its line with how long it usually takes; top's pods table shows
every demo release's pod with its workload kind and Helm release, and the misfits' finding ids;
its findings table shows each expected finding with its suggested kind, and no controller-kind
(WK) finding on the release that fits; afterwards nothing of the cluster is left (network
namespace, mounts, loop devices, processes, cgroups, state). Runs last of the fixture's tests,
as it takes the cluster down; cluster_down then finds nothing to do. With
BPFDIAG_CLUSTER_KEEP=1 (outside CI) it runs `make run ONCE=1 KEEP=1` instead and leaves the
cluster up, as cluster_down does."""
import importlib.util
import os
import subprocess
import sys
import time

import clusterlib as cl
import teardown


def load_demo():
    spec = importlib.util.spec_from_file_location(
        "demo", os.path.join(cl.REPO, "tools", "demo", "demo.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rows_with(text, *tokens):
    """The lines of text holding every token as a whitespace-separated word."""
    return [l for l in text.splitlines() if set(tokens) <= set(l.split())]


def main():
    cl.precondition()
    demo = load_demo()
    why = demo.real_node()
    if why:
        print("SKIP: %s: `make run` is `top` on this host here, not the demo" % why)
        sys.exit(cl.SKIP)
    # Run from a make of its own: no jobserver or flags of a make that started ctest.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    keep = os.environ.get("BPFDIAG_CLUSTER_KEEP") == "1" and not os.environ.get("CI")
    t = time.monotonic()
    r = subprocess.run(["make", "-C", cl.REPO, "--no-print-directory", "run", "ONCE=1"] +
                       (["KEEP=1"] if keep else []),
                       capture_output=True, text=True, timeout=1500, env=env,
                       stdin=subprocess.DEVNULL)
    took = time.monotonic() - t
    out, err = r.stdout, r.stderr
    cl.log("make run ONCE=1: exit %d in %.0f s\n%s" % (r.returncode, took, err[-6000:]))
    print(out[-12000:])
    left = [] if keep else teardown.leftovers()
    failures = []
    if r.returncode != 0:
        failures.append("make run ONCE=1 exited %d" % r.returncode)
    for step in ("starting the single-node cluster", "building the agent's image",
                 "building the workloads' image", "waiting for the agent and the demo's pods",
                 "waiting for the demo's findings") + (() if keep else ("tearing the demo down",)):
        lines = [l for l in err.splitlines() if step in l]
        if not (lines and "(" in lines[0] and " in " in lines[0] and "done" in lines[0]):
            failures.append("no progress line done for %r" % step)
    if "window" not in err or "warm-up" not in err:
        failures.append("the short window and warm-up are not said")
    for release, (_, values, expect) in demo.RELEASES.items():
        pods = [l for l in rows_with(out, demo.NS, values["kind"], release)
                if any(w.startswith(release + "-") for w in l.split())]
        if not pods:
            failures.append("no pod row of %s with kind %s and release %s" % (
                release, values["kind"], release))
        elif expect and not any(expect[0] in l for l in pods):
            failures.append("%s's row does not name %s: %s" % (release, expect[0], pods))
        workload = "%s/%s" % (values["kind"], release)
        if expect:
            if not rows_with(out, expect[0], demo.NS, workload, release, expect[1]):
                failures.append("no finding %s on %s suggesting %s" % (expect[0], workload,
                                                                       expect[1]))
        else:
            wk = [l for l in rows_with(out, demo.NS, workload) if " WK-" in l]
            if wk:
                failures.append("WK finding on %s, which fits: %s" % (workload, wk))
    if left:
        failures.append("left after the demo: %s" % left)
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures) + "\n--- stderr ---\n" + err[-4000:])
    print("1 passed, 0 failed (make run ONCE=1 in %.0f s)" % took)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        sys.exit("FAIL: %s" % e)
