#!/bin/busybox sh
# /init of the `kernels` test guest: mounts what a node has, runs the release agent once per
# line of /test/configs ("layout name agent-args…"; layouts go unified → hybrid, never back)
# with a small workload in a cgroup of its own, then the cases that must stop the agent (no
# BTF, cgroup v1 only), and powers off. Results go to the second serial port (/dev/ttyS1) as
# "BPFDIAG-RESULT key=value" lines and "BPFDIAG-BEGIN name" … "BPFDIAG-END name" blocks, so
# kernel messages on the console (ttyS0) never mix with them; tests/kernels/test_kernels.py
# parses them.
/bin/busybox --install -s /bin
export PATH=/bin
PORT=9810
CGROOT=/sys/fs/cgroup # the v2 hierarchy
V1CPU=                # the v1 cpu hierarchy (hybrid layout)

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t bpf bpffs /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo 5 >/proc/sys/kernel/printk # warnings and stack traces reach the console log
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1

result() { echo "BPFDIAG-RESULT $*" >&3; }
block() { # name file
	echo "BPFDIAG-BEGIN $1" >&3
	cat "$2" >&3
	echo "BPFDIAG-END $1" >&3
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# No wget -T: it crashes busybox 1.35; timeout(1) bounds it instead.
get() { timeout 10 wget -q -O "$2" "http://127.0.0.1:$PORT$1"; }
collections() {
	get /metrics - 2>/dev/null | awk '$1 == "bpfdiag_agent_collections_total" { print $2 }'
}

result "kernel=$(uname -r) uptime=$(uptime_s) nproc=$(nproc)"
result "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
[ -r /sys/kernel/btf/vmlinux ] && result "btf=yes" || result "btf=no"
# The tracepoints the probe choices depend on, as this kernel has them.
for tp in block/block_rq_issue block/block_io_start sock/sock_send_length \
	writeback/writeback_dirty_folio syscalls/sys_enter_write iomap/iomap_dio_complete \
	filemap/mm_filemap_get_pages; do
	[ -e "/sys/kernel/tracing/events/$tp" ] && has=yes || has=no
	result "tp_${tp#*/}=$has"
done

# Loopback network, a web server and a 1 MiB file for the workload to fetch.
ip link set lo up
mkdir -p /www
head -c 1048576 /dev/zero >/www/blob
head -c 524288 /dev/zero >/tmp/blob512k
httpd -p 127.0.0.1:8080 -h /www

# A block device with a filesystem: the disk and fs families see real requests.
insmod /lib/modules/loop.ko max_loop=2 2>/dev/null
head -c 67108864 /dev/zero >/tmp/disk.img
losetup /dev/loop0 /tmp/disk.img && mke2fs -q /dev/loop0 >/dev/null 2>&1 && mkdir -p /mnt/vol &&
	mount /dev/loop0 /mnt/vol && result "disk=loop0" || result "disk=none"

# Hybrid: the cpu controller on a v1 hierarchy, v2 (no controllers) at unified/, as on
# systemd hosts booted with systemd.unified_cgroup_hierarchy=0.
to_hybrid() {
	umount /sys/fs/cgroup
	mount -t tmpfs cgroup /sys/fs/cgroup
	mkdir /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/unified
	mount -t cgroup -o cpu,cpuacct cgroup /sys/fs/cgroup/cpu,cpuacct &&
		mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified && result "layout=hybrid"
	CGROOT=/sys/fs/cgroup/unified
	V1CPU=/sys/fs/cgroup/cpu,cpuacct
}

# The workload, in a subshell that moves itself into cgroup $1 (and, on a hybrid layout, into
# the v1 cpu cgroup of the same name, limited to half a CPU): a busy second, file writes
# (fsync'ed, buffered, O_DIRECT), a 1 MiB download, a 512 KiB upload, and a listener left open
# while the metrics are read.
workload() {
	echo 0 >"$CGROOT/$1/cgroup.procs" # 0: the writing process
	[ -n "$V1CPU" ] && echo 0 >"$V1CPU/$1/cgroup.procs"
	timeout 1 sh -c 'while :; do :; done'
	dd if=/dev/zero of="/mnt/vol/$1-sync" bs=65536 count=32 conv=fsync 2>/dev/null
	dd if=/dev/zero of="/mnt/vol/$1-buffered" bs=65536 count=32 2>/dev/null
	dd if=/dev/zero of="/mnt/vol/$1-direct" bs=65536 count=16 oflag=direct 2>/dev/null
	timeout 10 wget -q -O /dev/null http://127.0.0.1:8080/blob
	nc 127.0.0.1 9000 </tmp/blob512k
	sleep 30 | nc -l -p 9001 >/dev/null &
}

run_config() { # name agent-args…
	name=$1
	shift
	cg=wl-$name
	log=/tmp/agent-$name.log
	mkdir "$CGROOT/$cg"
	if [ -n "$V1CPU" ]; then
		mkdir "$V1CPU/$cg"
		echo 50000 >"$V1CPU/$cg/cpu.cfs_quota_us"
	fi
	start=$(uptime_s)
	bpfdiag agent --kube-api none --pin-dir none --listen 127.0.0.1:$PORT --interval 0.5 \
		"$@" >"$log" 2>&1 &
	apid=$!
	ready=no
	for _ in $(seq 1 300); do
		if get /readyz /dev/null 2>/dev/null; then
			ready=yes
			break
		fi
		kill -0 $apid 2>/dev/null || break
		sleep 0.1
	done
	took=$(awk -v s="$start" '{ print $1 - s }' /proc/uptime)
	result "config=$name ready=$ready ready_seconds=$took"
	if [ $ready = yes ]; then
		sleep 30 | nc -l -p 9000 >/dev/null &
		(workload $cg) >/tmp/workload-$name.log 2>&1
		block "workload $name" /tmp/workload-$name.log
		sync # from the root cgroup: the buffered file is written back for its dirtier
		n=$(collections)
		for _ in $(seq 1 100); do
			[ "$(collections)" -ge $((n + 2)) ] 2>/dev/null && break
			sleep 0.1
		done
		get /metrics /tmp/metrics-$name
		grep -v '^#' /tmp/metrics-$name >/tmp/samples-$name
		block "metrics $name" /tmp/samples-$name
		block "cpu.stat $name" "$CGROOT/$cg/cpu.stat"
	fi
	kill -TERM $apid 2>/dev/null
	wait $apid
	result "config=$name exit=$?"
	block "log $name" "$log"
	for p in $(cat "$CGROOT/$cg/cgroup.procs"); do kill -9 "$p"; done 2>/dev/null
	sleep 0.2
	rmdir "$CGROOT/$cg" ${V1CPU:+"$V1CPU/$cg"}
}

# An agent run that must stop at start: its exit status and output are reported.
run_failing() { # name agent-args…
	name=$1
	shift
	timeout 30 bpfdiag agent --kube-api none --pin-dir none --listen 127.0.0.1:$PORT "$@" \
		>/tmp/agent-$name.log 2>&1
	result "config=$name exit=$?"
	block "log $name" /tmp/agent-$name.log
}

while read -r layout name args <&4; do # fd 4: the workload must not eat the list
	[ -n "$name" ] || continue
	[ "$layout" = hybrid ] && [ -z "$V1CPU" ] && to_hybrid
	run_config "$name" $args
done 4</test/configs

# Missing BTF, as on a kernel built without CONFIG_DEBUG_INFO_BTF: hide the kernel's BTF.
if mount -o bind /dev/null /sys/kernel/btf/vmlinux; then
	run_failing nobtf
	umount /sys/kernel/btf/vmlinux
fi

# cgroup v1 only: no v2 hierarchy mounted anywhere.
[ -z "$V1CPU" ] && to_hybrid
umount "$CGROOT" && result "layout=v1only"
run_failing v1only

result "finished=yes end_uptime=$(uptime_s)"
exec 3>&-
poweroff -f
