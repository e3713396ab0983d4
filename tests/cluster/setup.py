"""ctest fixture `cluster` (setup): brings the real single-node cluster up with
tools/cluster/cluster, builds the bpfdiag image from the Containerfile and the workloads' image
from Debian packages, and loads both into the node's containerd."""
import os
import sys
import tempfile
import time

import clusterlib as cl


def build_agent_image(tmp):
    bases = dict(line.split("=", 1) for line in cl.run(
        [os.path.join(cl.REPO, "tools", "image-bases.sh")], timeout=1200).stdout.split())
    rev = cl.run(["git", "-C", cl.REPO, "rev-parse", "--short=12", "HEAD"], check=False)
    cl.run(["buildah", "bud", "--isolation", "chroot", "--pull=never", "--quiet",
            "--build-arg", "BUILD_IMAGE=" + bases["BUILD_IMAGE"],
            "--build-arg", "RUNTIME_IMAGE=" + bases["RUNTIME_IMAGE"],
            "--build-arg", "REVISION=" + (rev.stdout.strip() or "unknown"),
            "-f", os.path.join(cl.REPO, "Containerfile"), "-t", cl.AGENT_IMAGE, cl.REPO],
           timeout=1200)
    # The previous build of the tag is now dangling.
    cl.run(["buildah", "rmi", "--prune"], check=False)
    archive = os.path.join(tmp, "bpfdiag.tar")
    cl.run(["buildah", "push", "--quiet", cl.AGENT_IMAGE,
            "oci-archive:%s:%s" % (archive, cl.AGENT_IMAGE)], timeout=300)
    return archive


def main():
    cl.precondition()
    t0 = time.monotonic()
    out = cl.cluster("up", timeout=2400).stdout
    cl.log("cluster up in %.0f s:\n%s" % (time.monotonic() - t0, out.strip()))
    with tempfile.TemporaryDirectory(prefix="bpfdiag-cluster-images-") as tmp:
        t = time.monotonic()
        archive = build_agent_image(tmp)
        cl.cluster("load-image", archive, timeout=300)
        cl.log("image %s built and loaded in %.0f s" % (cl.AGENT_IMAGE, time.monotonic() - t))
        t = time.monotonic()
        archive = os.path.join(tmp, "workloads.tar")
        ref = cl.run([os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   "workload-image.sh"), archive], timeout=1500).stdout.strip()
        cl.cluster("load-image", archive, timeout=600)
        with open(cl.WORKLOAD_IMAGE_FILE, "w") as f:
            f.write(ref + "\n")
        cl.log("image %s built and loaded in %.0f s" % (ref, time.monotonic() - t))
    images = cl.in_ns("ctr", "--address", "/run/bpfdiag-cluster/containerd.sock",
                      "--namespace", "k8s.io", "images", "ls", "-q").stdout.split()
    for want in (cl.AGENT_IMAGE, ref):
        assert want in images, "%s not in the node's images: %s" % (want, images)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        sys.exit("FAIL: %s" % e)
