"""ctest fixture `cluster` (setup): brings the real single-node cluster up with
tools/cluster/cluster, builds the bpfdiag image from the Containerfile and the workloads' image
from Debian packages (each only when its inputs changed), and loads both into the node's
containerd."""
import sys
import tempfile
import time

import clusterlib as cl


def main():
    cl.precondition()
    t0 = time.monotonic()
    out = cl.cluster("up", timeout=2400).stdout
    cl.log("cluster up in %.0f s:\n%s" % (time.monotonic() - t0, out.strip()))
    with tempfile.TemporaryDirectory(prefix="bpfdiag-cluster-images-") as tmp:
        t = time.monotonic()
        built = cl.build_agent_image()
        cl.load_agent_image(tmp)
        cl.log("image %s %s and loaded in %.0f s" % (
            cl.AGENT_IMAGE, "built" if built else "unchanged", time.monotonic() - t))
        t = time.monotonic()
        ref = cl.load_workload_image(tmp)
        with open(cl.WORKLOAD_IMAGE_FILE, "w") as f:
            f.write(ref + "\n")
        cl.log("image %s ready in %.0f s" % (ref, time.monotonic() - t))
    images = cl.node_images()
    for want in (cl.AGENT_IMAGE, ref):
        assert want in images, "%s not in the node's images: %s" % (want, images)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        sys.exit("FAIL: %s" % e)
