"""nsbox's default seccomp profile, in OCI ``linux.seccomp`` form: docker/podman's default.

An allowlist (defaultAction SCMP_ACT_ERRNO, EPERM) of the syscalls ordinary programs use. Left out
unless the container holds the matching capability, as in moby's profiles/seccomp/default.json: mount
and the new mount API, namespaces (clone/unshare with CLONE_NEW* flags, setns), bpf, perf_event_open,
kexec_*, module loading, reboot, ptrace and process_vm_*, keyctl/add_key/request_key (never: keys are
not namespaced), clock/time setting, acct, swapon/off, iopl/ioperm, personality other than the safe few.
clone3 answers ENOSYS (its flags are behind a pointer, so they cannot be checked; libc falls back to
clone, whose flags can).

Deviation from moby on kernels >= 4.8: ptrace, kcmp and process_vm_* stay behind CAP_SYS_PTRACE
(moby allows them there), so a container cannot trace its own processes by default.
"""

from __future__ import annotations

import errno
import os

from .capabilities import DEFAULT_CAPS

CLONE_NS_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
CLONE_NEWUSER = 0x10000000
AF_VSOCK = 40

ALLOWED = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr
llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier
memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64
preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read
readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages
removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending
rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl
semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid
setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl
shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice
stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate
truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice
wait4 waitid waitpid write writev
""".split()

# Extra syscalls a capability brings (moby's "includes": {"caps": [...]}).
BY_CAPABILITY = {
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
    "CAP_SYS_ADMIN": ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                      "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
                      "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
                      "umount2", "unshare"],
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_CHROOT": ["chroot"],
    "CAP_SYS_MODULE": ["delete_module", "init_module", "finit_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_PTRACE": ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
                       "ptrace"],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_NICE": ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
}

ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"],
}

BY_ARCH = {
    "x86_64": ["arch_prctl", "modify_ldt"],
    "aarch64": ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
                "set_tls"],
}


def _allow(names, args=None) -> dict:
    rule = {"names": list(names), "action": "SCMP_ACT_ALLOW"}
    if args:
        rule["args"] = args
    return rule


def default_profile(capabilities=None, machine: str | None = None) -> dict:
    """The default profile for a container holding ``capabilities`` (default: docker's default set)."""
    caps = set(DEFAULT_CAPS if capabilities is None else capabilities)
    machine = machine or os.uname().machine  # = platform.machine(), without importing platform
    syscalls = [_allow(ALLOWED)]
    # personality: only the harmless personas (PER_LINUX, PER_LINUX32, UNAME26 variants, query).
    for persona in (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF):
        syscalls.append(_allow(["personality"], [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]))
    # socket: anything but AF_VSOCK (reaches the host's hypervisor services).
    syscalls.append(_allow(["socket"], [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]))
    if BY_ARCH.get(machine):
        syscalls.append(_allow(BY_ARCH[machine]))
    extra = sorted({name for cap in sorted(caps) for name in BY_CAPABILITY.get(cap, [])})
    if extra:
        syscalls.append(_allow(extra))
    if "CAP_SYS_ADMIN" not in caps:
        # clone without namespace flags (s390 swaps the first two arguments; not a supported host).
        syscalls.append(_allow(["clone"], [{"index": 0, "value": CLONE_NS_FLAGS, "valueTwo": 0,
                                            "op": "SCMP_CMP_MASKED_EQ"}]))
        # unshare without CLONE_NEWUSER (the other CLONE_NEW* need CAP_SYS_ADMIN anyway).
        syscalls.append(_allow(["unshare"], [{"index": 0, "value": CLONE_NEWUSER, "valueTwo": 0,
                                              "op": "SCMP_CMP_MASKED_EQ"}]))
        syscalls.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "architectures": list(ARCHITECTURES.get(machine, [])),
        "syscalls": syscalls,
    }
