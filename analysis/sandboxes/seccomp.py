"""A seccomp filter for the local sandbox, as a raw BPF program handed to bwrap with `--seccomp FD`.

bwrap installs it just before it execs the sandbox's Python, so it is in force before any user code
runs and for every process the code starts; it cannot be removed. Written out by hand (a few dozen
instructions) rather than through libseccomp: no extra dependency in the worker, and every rule is
visible here.

Denied with EPERM: ptrace and cross-process memory access, mounting and namespaces, io_uring (a large
and bug-prone kernel surface that also bypasses per-syscall filtering), bpf, the kernel keyring,
perf_event_open, userfaultfd, module and kexec loading, file handles, and the x32 ABI (another syscall
table that would slip past the numbers below). socket() is allowed only for AF_UNIX (the network
namespace has nothing to reach anyway; this also closes raw/netlink/packet sockets).
"""

from __future__ import annotations

import errno
import functools
import os
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
AF_UNIX = 1

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
DENIED_X86_64 = {
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "init_module": 175,
    "delete_module": 176,
    "finit_module": 313,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "setns": 308,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}
SOCKET_X86_64 = 41

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0 = 0, 4, 16


def supported() -> bool:
    return platform.machine() == "x86_64"


def denied_syscalls() -> list[str]:
    return sorted(DENIED_X86_64) + ["socket(family != AF_UNIX)"]


@functools.cache
def program() -> bytes:
    """The filter as struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k), native byte order."""
    denied = sorted(DENIED_X86_64.values())
    # Layout: 0 arch check, 1 kill, 2 load nr, 3 x32 check, 4.. one JEQ per denied syscall, socket JEQ,
    # allow, deny(EPERM), socket: load family, JEQ AF_UNIX, deny(EAFNOSUPPORT), allow.
    head = [
        (_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),  # another architecture's syscall table: never
        (_LD_W_ABS, 0, 0, _OFFSET_NR),
    ]
    checks = len(denied) + 2  # the x32 check, the denied list, the socket check
    allow_at = len(head) + checks
    deny_at = allow_at + 1
    socket_at = deny_at + 1
    body = []
    for index in range(checks):
        here = len(head) + index
        if index == 0:
            body.append((_JGE_K, deny_at - here - 1, 0, X32_SYSCALL_BIT))
        elif index <= len(denied):
            body.append((_JEQ_K, deny_at - here - 1, 0, denied[index - 1]))
        else:
            body.append((_JEQ_K, socket_at - here - 1, 0, SOCKET_X86_64))
    tail = [
        (_RET_K, 0, 0, _RET_ALLOW),
        (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
        (_LD_W_ABS, 0, 0, _OFFSET_ARG0),  # the low 32 bits of socket()'s family argument
        (_JEQ_K, 1, 0, AF_UNIX),
        (_RET_K, 0, 0, _RET_ERRNO | errno.EAFNOSUPPORT),
        (_RET_K, 0, 0, _RET_ALLOW),
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in head + body + tail)


def program_fd() -> int:
    """An anonymous in-memory file holding the program, positioned at its start, for `--seccomp FD`."""
    fd = os.memfd_create("sandgate-seccomp", 0)  # no MFD_CLOEXEC: bwrap inherits it through pass_fds
    os.write(fd, program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
