"""Control groups v1, v2 and hybrid: detection, OCI resource conversion, drivers, the manager.

    detect     which hierarchies this host has (mountinfo) and our own cgroups (/proc/self/cgroup)
    convert    PURE: OCI linux.resources -> ordered cgroup file writes for v1 and v2, and validation
    devices    device rules: runc's defaults, v1 devices.allow/deny lines, the kernel's semantics
    devfilter  v2 device rules as a hand-assembled BPF_PROG_TYPE_CGROUP_DEVICE program
    fs         reading/writing interface files with errors that name the file; mkdir -p; rmdir -r
    v1, v2     drivers: create, apply, add, pids, freeze/thaw, kill, destroy
    manager    CgroupManager + for_container(): what the runtime calls
    stats      runc `events --stats` "data" shape;  oom: waiting for OOM kills

Entry point: ``nsbox.cgroups.manager.for_container(linux, container_id, rootless=...)``.
"""
