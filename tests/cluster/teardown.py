"""ctest fixture `cluster` (cleanup): `tools/cluster/cluster down`, then checks that nothing the
cluster made is left: processes, mounts, loop devices, cgroups, the network namespace."""
import os
import subprocess
import sys

import clusterlib as cl

STATE = "/var/lib/bpfdiag-cluster"


def leftovers():
    left = []
    if os.path.exists("/run/netns/bpfdiag-k8s"):
        left.append("network namespace bpfdiag-k8s")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4]
            if mnt.startswith(STATE) or mnt.startswith("/run/bpfdiag-cluster"):
                left.append("mount " + mnt)
    loops = subprocess.run(["losetup", "-nO", "NAME,BACK-FILE"], capture_output=True,
                           text=True).stdout
    left += ["loop device " + l for l in loops.splitlines() if STATE in l]
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d in ("kubepods", "bpfdiag-cluster"):
                left.append("cgroup " + os.path.join(root, d))
        if root.count("/") >= 4:
            dirs[:] = []
    procs = subprocess.run(["pgrep", "-a", "-f", "bpfdiag-cluster|kube-[0-9a-f]{16}"],
                           capture_output=True, text=True).stdout
    left += ["process " + p for p in procs.splitlines()]
    if os.path.exists(STATE):
        left.append(STATE)
    return left


def main():
    cl.precondition()
    if os.environ.get("BPFDIAG_CLUSTER_KEEP") == "1" and not os.environ.get("CI"):
        print("SKIP: BPFDIAG_CLUSTER_KEEP=1: the cluster stays up (tools/cluster/cluster down)")
        sys.exit(cl.SKIP)
    r = cl.cluster("down", timeout=300, check=False)
    left = leftovers()
    if r.returncode != 0 or left:
        sys.exit("FAIL: cluster down (%d): %s\nleft: %s" % (r.returncode, r.stderr.strip(),
                                                           left))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
