// Probes a seccomp filter from inside a sandbox: each line names a system call, its result and
// errno. Build it static, put it in a test image, and run it as the session command:
//
//   gcc -static -O1 Policies/seccomp/probe.c -o probe
//
// With Policies/seccomp/sandbox.json every line but clone(SIGCHLD), the four allowed socket
// families, personality(query), fchmodat2 and fork fails (see Policies/README.md).
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/personality.h>
#include <linux/netlink.h>
static void r(const char *what, long rc) { printf("%-34s rc=%ld errno=%s\n", what, rc, rc < 0 ? strerror(errno) : "-"); }
int main(void) {
  errno = 0; r("clone(SIGCHLD)", ({ long p = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); if (p == 0) _exit(0); if (p > 0) waitpid(p, 0, 0); p; }));
  errno = 0; r("clone(CLONE_NEWUSER|SIGCHLD)", ({ long p = syscall(SYS_clone, CLONE_NEWUSER|SIGCHLD, 0, 0, 0, 0); if (p == 0) _exit(0); p; }));
  errno = 0; r("clone(CLONE_NEWNET|SIGCHLD)", ({ long p = syscall(SYS_clone, CLONE_NEWNET|SIGCHLD, 0, 0, 0, 0); if (p == 0) _exit(0); p; }));
  errno = 0; r("clone3", syscall(435, 0, 0));
  errno = 0; r("io_uring_setup", syscall(425, 1, 0));
  errno = 0; r("userfaultfd", syscall(SYS_userfaultfd, 0));
  errno = 0; r("bpf", syscall(SYS_bpf, 0, 0, 0));
  errno = 0; r("ptrace(PTRACE_TRACEME)", syscall(SYS_ptrace, 0, 0, 0, 0));
  errno = 0; r("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
  errno = 0; r("socket(AF_UNIX)", socket(AF_UNIX, SOCK_STREAM, 0));
  errno = 0; r("socket(AF_INET)", socket(AF_INET, SOCK_STREAM, 0));
  errno = 0; r("socket(AF_INET6)", socket(AF_INET6, SOCK_DGRAM, 0));
  errno = 0; r("socket(AF_NETLINK,ROUTE)", socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  errno = 0; r("socket(AF_NETLINK,AUDIT)", socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT));
  errno = 0; r("socket(AF_PACKET)", socket(17, SOCK_RAW, 0));
  errno = 0; r("socket(AF_VSOCK)", socket(40, SOCK_STREAM, 0));
  errno = 0; r("socket(AF_ALG)", socket(38, SOCK_SEQPACKET, 0));
  errno = 0; r("personality(query)", personality(0xffffffff));
  errno = 0; r("personality(ADDR_NO_RANDOMIZE)", personality(ADDR_NO_RANDOMIZE));
  errno = 0; r("adjtimex", syscall(SYS_adjtimex, 0));
  errno = 0; r("fchmodat2(not a file)", syscall(452, -100, "/nonexistent", 0, 0));
  errno = 0; r("cachestat", syscall(451, 0, 0, 0, 0));
  errno = 0; r("syscall 462 (mseal)", syscall(462, 0, 0, 0));
  errno = 0; r("fork", fork() == 0 ? (_exit(0), 0) : 0);
  return 0;
}
