/*
 * escape-probe: Sandcastle's sandbox escape battery.
 *
 * Every probe tries one thing a sandboxed program must NOT be able to do
 * (create namespaces, mount, load kernel code, reach the Docker socket, gain
 * euid 0, exhaust host resources, ...) and reports one line:
 *
 *     PROBE <name> BLOCKED <detail>     the sandbox stopped it
 *     PROBE <name> ESCAPED <detail>     the action worked: a hole in the policy
 *     PROBE <name> PLANTED <detail>     informational only (symlink-plant)
 *
 * followed by "SUMMARY blocked=N escaped=M".  Exit status: 0 when nothing
 * escaped, 1 when something did, 2 on usage errors or refusal.
 *
 * Each probe runs in its own forked child, in its own process group, under
 * alarm() and a harness deadline, so a crash, hang or seccomp kill of one probe
 * cannot hide the others.  A child killed by a signal (SIGSYS from a seccomp
 * KILL/TRAP action, SIGKILL from the OOM killer, ...) counts as BLOCKED with
 * the signal named.  A child that ends without a verdict counts as ESCAPED
 * ("inconclusive"): the battery fails closed.
 *
 * DANGER: this program really attempts the actions (mounts, clock_settime,
 * fork storms, filling /tmp, ...).  Run it only inside a test container; it
 * refuses to run unless its first argument is --i-understand-this-probes-the-sandbox.
 *
 * Build: gcc -static -O2 -Wall -Wextra -o escape-probe escape-probe.c
 * Only libc and Linux UAPI headers are used (no libseccomp).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/if_alg.h>
#include <linux/if_ether.h>
#include <linux/kexec.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/vm_sockets.h>

#define SAFETY_FLAG "--i-understand-this-probes-the-sandbox"
#define SUID_PROBE_PATH "/usr/local/bin/suid-probe"
#define MIB (1024L * 1024L)

/* Syscall numbers newer than some libc headers.  Since Linux 5.1 every
 * architecture except alpha shares these numbers. */
#if !defined(SYS_clone3) && !defined(__alpha__)
#define SYS_clone3 435
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

static struct {
    long tmpfs_cap_mib;      /* --tmpfs-cap-mib N: stop filling /tmp after N MiB   */
    int workspace_fill;      /* --workspace-limit: run workspace-fill              */
    long workspace_cap_mib;  /* --workspace-cap-mib N                              */
    int memhog;              /* --memhog: run the memory probe                     */
    long memhog_cap_mib;     /* --memhog-cap-mib N                                 */
    long fork_cap;           /* --fork-cap N: most processes fork-bomb creates     */
} opt = { 1024, 0, 1024, 0, 4096, 2048 };

/* ------------------------------------------------------------------------ */
/* Names for errno values and signals (kept local: no dependency on glibc's  */
/* strerrorname_np / sigabbrev_np).                                          */

static const char *errname(int e)
{
    static char buf[32];
    switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC)
    E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(ENOTBLK)
    E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL)
    E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC) E(ESPIPE)
    E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(EDEADLK) E(ENAMETOOLONG) E(ENOLCK)
    E(ENOSYS) E(ENOTEMPTY) E(ELOOP) E(ENOMSG) E(ENODATA) E(ENOPKG) E(EOVERFLOW)
    E(ENOTSOCK) E(EPROTOTYPE) E(ENOPROTOOPT) E(EPROTONOSUPPORT)
    E(ESOCKTNOSUPPORT) E(EOPNOTSUPP) E(EPFNOSUPPORT) E(EAFNOSUPPORT)
    E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN) E(ENETUNREACH) E(ECONNRESET)
    E(ENOBUFS) E(EISCONN) E(ENOTCONN) E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTUNREACH)
    E(ESTALE) E(EDQUOT) E(ENOKEY) E(EKEYEXPIRED) E(EKEYREVOKED) E(EKEYREJECTED)
#undef E
    case 524: return "ENOTSUPP"; /* kernel-internal value that leaks to user space */
    }
    snprintf(buf, sizeof buf, "errno=%d", e);
    return buf;
}

static const char *signame(int s)
{
    static char buf[32];
    switch (s) {
#define S(x) case x: return #x;
    S(SIGHUP) S(SIGINT) S(SIGQUIT) S(SIGILL) S(SIGTRAP) S(SIGABRT) S(SIGBUS)
    S(SIGFPE) S(SIGKILL) S(SIGUSR1) S(SIGSEGV) S(SIGUSR2) S(SIGPIPE) S(SIGALRM)
    S(SIGTERM) S(SIGCHLD) S(SIGCONT) S(SIGSTOP) S(SIGTSTP) S(SIGTTIN) S(SIGTTOU)
    S(SIGURG) S(SIGXCPU) S(SIGXFSZ) S(SIGVTALRM) S(SIGPROF) S(SIGWINCH) S(SIGIO)
    S(SIGPWR) S(SIGSYS)
#ifdef SIGSTKFLT
    S(SIGSTKFLT)
#endif
#undef S
    }
    snprintf(buf, sizeof buf, "signal %d", s);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Verdicts.  A probe child ends by calling BLOCKED(), ESCAPED() or          */
/* PLANTED(): the verdict line goes through a pipe to the harness, which     */
/* prints it, so a probe never writes to stdout itself.                      */

static int g_result_fd = -1;

/* Progress shared with the harness (MAP_SHARED), so that a probe killed by
 * the OOM killer or a timeout can still be reported as "after N MiB". */
struct progress {
    volatile long value;
    char unit[16];
};
static struct progress *g_progress;

static void set_progress(long value, const char *unit)
{
    if (!g_progress)
        return;
    g_progress->value = value;
    snprintf(g_progress->unit, sizeof g_progress->unit, "%s", unit);
}

__attribute__((noreturn, format(printf, 2, 3)))
static void verdict(char kind, const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    int n;

    buf[0] = kind;
    buf[1] = ' ';
    va_start(ap, fmt);
    n = vsnprintf(buf + 2, sizeof buf - 3, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if (n > (int)sizeof buf - 4)
        n = (int)sizeof buf - 4;
    buf[2 + n] = '\n';
    if (write(g_result_fd, buf, (size_t)n + 3) < 0) {
        /* Nothing sensible left to do: the harness reports "no verdict". */
    }
    _exit(0);
}

#define BLOCKED(...) verdict('B', __VA_ARGS__)
#define ESCAPED(...) verdict('E', __VA_ARGS__)
#define PLANTED(...) verdict('P', __VA_ARGS__)

/* For probes where "the kernel let the call through" is the escape even if
 * the call then fails on our deliberately invalid arguments: these errnos are
 * what a capability check or a seccomp filter answers. */
static int is_denial(int e)
{
    return e == EPERM || e == EACCES || e == ENOSYS;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads "Key:\tvalue" from /proc/self/status into out; 0 on success. */
static int status_field(const char *key, char *out, size_t outlen)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    size_t klen = strlen(key);
    int rc = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *v = line + klen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, outlen, "%s", v);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Forks a child that runs fn() and _exit()s with its return value; returns
 * the child's wait status, or -1 with errno set if fork failed. */
static int run_in_child(int (*fn)(void))
{
    int st;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn());
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* ======================================================================== */
/* Namespaces                                                                */

/* userns: an unprivileged user namespace hands the process a full capability
 * set over its own namespaces: the usual first step of kernel exploits. */
static void probe_userns(void)
{
    if (unshare(CLONE_NEWUSER) == 0)
        ESCAPED("unshare(CLONE_NEWUSER) succeeded");
    BLOCKED("unshare(CLONE_NEWUSER): %s", errname(errno));
}

/* mountns: a private mount namespace requires CAP_SYS_ADMIN. */
static void probe_mountns(void)
{
    if (unshare(CLONE_NEWNS) == 0)
        ESCAPED("unshare(CLONE_NEWNS) succeeded");
    BLOCKED("unshare(CLONE_NEWNS): %s", errname(errno));
}

/* netns: a new network namespace requires CAP_SYS_ADMIN. */
static void probe_netns(void)
{
    if (unshare(CLONE_NEWNET) == 0)
        ESCAPED("unshare(CLONE_NEWNET) succeeded");
    BLOCKED("unshare(CLONE_NEWNET): %s", errname(errno));
}

/* clone-newuser: the same as userns through the raw clone syscall, which a
 * seccomp profile must filter separately (flags are clone's first argument). */
static void probe_clone_newuser(void)
{
    long r = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), 0UL, NULL, NULL, 0UL);
    if (r == 0)
        _exit(0); /* the new child: nothing to do */
    if (r < 0)
        BLOCKED("clone(CLONE_NEWUSER): %s", errname(errno));
    waitpid((pid_t)r, NULL, 0);
    ESCAPED("clone(CLONE_NEWUSER) created pid %ld", r);
}

/* clone3-ns: clone3 passes its flags in a struct that seccomp cannot inspect,
 * so a profile must refuse clone3 outright (ENOSYS makes libc fall back to
 * clone, whose flags it can filter). */
static void probe_clone3_ns(void)
{
#ifdef SYS_clone3
    struct {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    } args;
    long r;

    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWNS | CLONE_NEWUSER;
    args.exit_signal = SIGCHLD;
    r = syscall(SYS_clone3, &args, sizeof args);
    if (r == 0)
        _exit(0);
    if (r < 0)
        BLOCKED("clone3(CLONE_NEWNS|CLONE_NEWUSER): %s", errname(errno));
    waitpid((pid_t)r, NULL, 0);
    ESCAPED("clone3(CLONE_NEWNS|CLONE_NEWUSER) created pid %ld", r);
#else
    BLOCKED("clone3 not defined for this architecture");
#endif
}

/* setns: joining a namespace (even our own) needs CAP_SYS_ADMIN; with it a
 * process that can see a host process could enter the host's namespaces. */
static void probe_setns(void)
{
    char d1[96], d2[96];
    int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        if (setns(fd, CLONE_NEWNS) == 0)
            ESCAPED("setns(/proc/1/ns/mnt) succeeded");
        snprintf(d1, sizeof d1, "setns(/proc/1/ns/mnt): %s", errname(errno));
        close(fd);
    } else {
        snprintf(d1, sizeof d1, "open(/proc/1/ns/mnt): %s", errname(errno));
    }
    fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (setns(fd, CLONE_NEWNET) == 0)
            ESCAPED("%s; setns(/proc/self/ns/net) succeeded", d1);
        snprintf(d2, sizeof d2, "setns(/proc/self/ns/net): %s", errname(errno));
        close(fd);
    } else {
        snprintf(d2, sizeof d2, "open(/proc/self/ns/net): %s", errname(errno));
    }
    BLOCKED("%s; %s", d1, d2);
}

/* ======================================================================== */
/* Mounts and the root filesystem                                            */

/* mount: mounting anything needs CAP_SYS_ADMIN. */
static void probe_mount(void)
{
    const char *target = "/tmp/x";

    if (mkdir(target, 0700) < 0 && errno != EEXIST)
        target = "/tmp"; /* mount needs an existing directory to be judged */
    if (mount("sandcastle-probe", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") == 0) {
        umount2(target, MNT_DETACH);
        ESCAPED("mounted tmpfs on %s", target);
    }
    BLOCKED("mount(tmpfs, %s): %s", target, errname(errno));
}

/* remount-root: a read-only rootfs must stay read-only. */
static void probe_remount_root(void)
{
    struct statvfs sv;
    int was_ro = statvfs("/", &sv) == 0 && (sv.f_flag & ST_RDONLY);

    if (mount("", "/", NULL, MS_REMOUNT | MS_BIND, NULL) == 0) {
        int restored = 0;
        if (was_ro)
            restored = mount("", "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0;
        ESCAPED("remounted / read-write (was %s%s)", was_ro ? "read-only" : "read-write",
                was_ro ? (restored ? ", restored read-only" : ", restore FAILED") : "");
    }
    BLOCKED("mount(MS_REMOUNT|MS_BIND, /): %s (/ is %s)", errname(errno),
            was_ro ? "read-only" : "read-write");
}

/* chroot: CAP_SYS_CHROOT is a classic ingredient of breaking out of a chroot
 * and of confusing setuid programs. */
static void probe_chroot(void)
{
    if (chroot("/tmp") == 0)
        ESCAPED("chroot(/tmp) succeeded");
    if (errno == ENOENT) {
        if (chroot("/") == 0)
            ESCAPED("chroot(/) succeeded");
        BLOCKED("chroot(/): %s", errname(errno));
    }
    BLOCKED("chroot(/tmp): %s", errname(errno));
}

/* pivot_root: the kernel checks CAP_SYS_ADMIN before looking at the paths,
 * so nonexistent paths tell "allowed" (ENOENT) from "refused" (EPERM) without
 * ever changing the container's root. */
static void probe_pivot_root(void)
{
    const char *p = "/nonexistent-sandcastle-probe";
    if (syscall(SYS_pivot_root, p, p) == 0)
        ESCAPED("pivot_root succeeded");
    if (is_denial(errno))
        BLOCKED("pivot_root: %s", errname(errno));
    ESCAPED("pivot_root passed the permission check (%s on a dummy path)", errname(errno));
}

/* write-root: the root filesystem must be read-only. */
static void probe_write_root(void)
{
    char path[64];
    int fd;

    snprintf(path, sizeof path, "/.sandcastle-probe-%d", (int)getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        unlink(path);
        ESCAPED("created %s (removed)", path);
    }
    BLOCKED("create %s: %s", path, errname(errno));
}

/* mknod: CAP_MKNOD lets a sandbox create device nodes (and, on a mount
 * without nodev, open them). */
static void probe_mknod(void)
{
    static const char *dirs[] = { "/tmp", "/workspace", "/dev/shm" };
    char path[96], first[128] = "";
    size_t i;

    for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/.probe-null-%d", dirs[i], (int)getpid());
        if (mknod(path, S_IFCHR | 0666, makedev(1, 3)) == 0) {
            int fd = open(path, O_RDWR | O_CLOEXEC);
            int oe = errno;
            if (fd >= 0)
                close(fd);
            unlink(path);
            ESCAPED("created char device 1:3 at %s (open: %s; removed)", path,
                    fd >= 0 ? "ok" : errname(oe));
        }
        if (errno == EPERM)
            BLOCKED("mknod(%s, c 1:3): EPERM", path);
        if (!first[0])
            snprintf(first, sizeof first, "mknod(%s): %s", path, errname(errno));
    }
    BLOCKED("%s (no writable directory)", first);
}

/* open_by_handle_at: the "shocker" escape: with CAP_DAC_READ_SEARCH a file
 * handle opens any inode of the filesystem, ignoring the mount tree. */
static void probe_open_by_handle_at(void)
{
    struct {
        struct file_handle fh;
        unsigned char bytes[128];
    } h;
    int mount_id, mfd, fd, real = 1;

    memset(&h, 0, sizeof h);
    h.fh.handle_bytes = sizeof h.bytes;
    if (name_to_handle_at(AT_FDCWD, "/", &h.fh, &mount_id, 0) < 0) {
        /* The filesystem may not export handles; a made-up handle still
         * shows whether the permission check lets the call through. */
        real = 0;
        memset(&h, 0, sizeof h);
        h.fh.handle_bytes = 8;
        h.fh.handle_type = 1; /* FILEID_INO32_GEN */
    }
    mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mfd < 0)
        BLOCKED("open(/): %s", errname(errno));
    fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        ESCAPED("opened / through a %s file handle", real ? "real" : "made-up");
    if (is_denial(errno))
        BLOCKED("open_by_handle_at: %s", errname(errno));
    ESCAPED("open_by_handle_at passed the permission check (%s with a %s handle)",
            errname(errno), real ? "real" : "made-up");
}

/* ======================================================================== */
/* Process control                                                           */

/* ptrace: tracing another process of the same uid reads and rewrites its
 * memory; old kernels had seccomp bypasses through ptrace. */
static int traceme_child(void)
{
    return ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 ? 0 : 100 + errno;
}

static void probe_ptrace(void)
{
    char attach[64], traceme[64];
    int escaped = 0, st;
    pid_t t = fork();

    if (t < 0)
        BLOCKED("fork: %s", errname(errno));
    if (t == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;)
            pause();
    }
    if (ptrace(PTRACE_ATTACH, t, NULL, NULL) == 0) {
        waitpid(t, &st, __WALL);
        ptrace(PTRACE_DETACH, t, NULL, NULL);
        snprintf(attach, sizeof attach, "PTRACE_ATTACH ok");
        escaped = 1;
    } else {
        int ae = errno;
        if (ptrace(PTRACE_SEIZE, t, NULL, NULL) == 0) {
            snprintf(attach, sizeof attach, "PTRACE_ATTACH %s, PTRACE_SEIZE ok", errname(ae));
            escaped = 1;
        } else {
            snprintf(attach, sizeof attach, "PTRACE_ATTACH %s", errname(ae));
            snprintf(attach + strlen(attach), sizeof attach - strlen(attach),
                     ", PTRACE_SEIZE %s", errname(errno));
        }
    }
    kill(t, SIGKILL);
    waitpid(t, NULL, __WALL);

    st = run_in_child(traceme_child);
    if (st == -1)
        snprintf(traceme, sizeof traceme, "PTRACE_TRACEME untested (fork: %s)", errname(errno));
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        snprintf(traceme, sizeof traceme, "PTRACE_TRACEME ok");
        escaped = 1;
    } else if (WIFEXITED(st) && WEXITSTATUS(st) >= 100)
        snprintf(traceme, sizeof traceme, "PTRACE_TRACEME %s", errname(WEXITSTATUS(st) - 100));
    else if (WIFSIGNALED(st))
        snprintf(traceme, sizeof traceme, "PTRACE_TRACEME killed by %s", signame(WTERMSIG(st)));
    else
        snprintf(traceme, sizeof traceme, "PTRACE_TRACEME status %d", st);

    if (escaped)
        ESCAPED("%s; %s", attach, traceme);
    BLOCKED("%s; %s", attach, traceme);
}

/* setuid0: a sandbox must not run as root nor become root. */
static void probe_setuid0(void)
{
    if (geteuid() == 0)
        ESCAPED("running as root (uid=%d euid=0)", (int)getuid());
    if (setuid(0) == 0)
        ESCAPED("setuid(0) succeeded");
    BLOCKED("setuid(0): %s (uid=%d)", errname(errno), (int)getuid());
}

/* suid: a setuid-root binary must not give euid 0 (no-new-privileges, or a
 * nosuid mount, makes the kernel ignore the setuid bit). */
static void probe_suid(void)
{
    struct stat sb;
    char out[128], mode[48];
    int pfd[2], st;
    ssize_t n, total = 0;
    unsigned euid, uid;
    pid_t pid;

    if (stat(SUID_PROBE_PATH, &sb) < 0) {
        if (errno == ENOENT)
            BLOCKED("absent");
        BLOCKED("stat %s: %s", SUID_PROBE_PATH, errname(errno));
    }
    snprintf(mode, sizeof mode, "mode %04o owner %u", (unsigned)(sb.st_mode & 07777),
             (unsigned)sb.st_uid);
    if (pipe2(pfd, O_CLOEXEC) < 0)
        BLOCKED("pipe: %s", errname(errno));
    pid = fork();
    if (pid < 0)
        BLOCKED("fork: %s", errname(errno));
    if (pid == 0) {
        dup2(pfd[1], 1);
        execl(SUID_PROBE_PATH, "suid-probe", SAFETY_FLAG, "--report-euid", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    while (total < (ssize_t)sizeof out - 1 &&
           (n = read(pfd[0], out + total, sizeof out - 1 - (size_t)total)) > 0)
        total += n;
    out[total < 0 ? 0 : total] = '\0';
    out[strcspn(out, "\n")] = '\0';
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        BLOCKED("suid-probe killed by %s (%s)", signame(WTERMSIG(st)), mode);
    if (sscanf(out, "euid=%u uid=%u", &euid, &uid) != 2)
        BLOCKED("suid-probe gave no report (exit %d, %s)", WEXITSTATUS(st), mode);
    if (euid == 0 && getuid() == 0)
        ESCAPED("%s (already running as root; %s)", out, mode);
    if (euid == 0)
        ESCAPED("setuid-root binary gave %s (%s)", out, mode);
    BLOCKED("%s (%s%s)", out, mode,
            (sb.st_mode & S_ISUID) && sb.st_uid == 0 ? ", setuid bit ignored" : ", not setuid-root");
}

/* ======================================================================== */
/* Kernel attack surface reachable by syscalls                               */

/* keyctl: the kernel keyring is not namespaced; Docker's profile blocks it. */
static void probe_keyctl(void)
{
    char d[64];
    long id = syscall(SYS_add_key, "user", "sandcastle-probe", "x", (size_t)1,
                      (long)KEY_SPEC_PROCESS_KEYRING);
    if (id >= 0) {
        syscall(SYS_keyctl, (long)KEYCTL_INVALIDATE, id);
        ESCAPED("add_key created key %ld", id);
    }
    snprintf(d, sizeof d, "add_key: %s", errname(errno));
    id = syscall(SYS_keyctl, (long)KEYCTL_GET_KEYRING_ID, (long)KEY_SPEC_SESSION_KEYRING, 0L);
    if (id >= 0)
        ESCAPED("%s; keyctl(GET_KEYRING_ID) gave %ld", d, id);
    BLOCKED("%s; keyctl: %s", d, errname(errno));
}

/* bpf: loading eBPF programs or creating maps is a large kernel surface. */
static void probe_bpf(void)
{
    union bpf_attr attr;
    struct bpf_insn insns[2];
    char log[16];
    int fd, me;

    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    if (fd >= 0)
        ESCAPED("BPF_MAP_CREATE gave fd %d", fd);
    me = errno;

    memset(insns, 0, sizeof insns);
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
    insns[1].code = BPF_JMP | BPF_EXIT;          /* return r0 */
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insn_cnt = 2;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.license = (uint64_t)(uintptr_t)"GPL";
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = 0;
    fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    if (fd >= 0)
        ESCAPED("BPF_MAP_CREATE %s; BPF_PROG_LOAD (socket filter) gave fd %d", errname(me), fd);
    BLOCKED("BPF_MAP_CREATE %s; BPF_PROG_LOAD %s", errname(me), errname(errno));
}

/* perf_event_open: performance counters have a long record of kernel bugs
 * and side channels. */
static void probe_perf_event_open(void)
{
    struct perf_event_attr a;
    int fd;

    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_CPU_CLOCK;
    a.disabled = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0UL);
    if (fd >= 0)
        ESCAPED("perf_event_open(sw cpu-clock, self) gave fd %d", fd);
    BLOCKED("perf_event_open: %s", errname(errno));
}

/* io_uring: a second syscall interface that seccomp cannot see into and a
 * frequent source of kernel privilege escalations. */
static void probe_io_uring(void)
{
    unsigned char params[128]; /* struct io_uring_params is 120 bytes, all zero */
    int fd;

    memset(params, 0, sizeof params);
    fd = (int)syscall(SYS_io_uring_setup, 4, params);
    if (fd >= 0)
        ESCAPED("io_uring_setup gave fd %d", fd);
    BLOCKED("io_uring_setup: %s", errname(errno));
}

/* userfaultfd: lets a process stall kernel copies at will, the standard
 * primitive for winning kernel race conditions. */
static void probe_userfaultfd(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    int e;

    if (fd >= 0)
        ESCAPED("userfaultfd gave fd %d (kernel faults included)", fd);
    e = errno;
    fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd >= 0)
        ESCAPED("userfaultfd %s, but UFFD_USER_MODE_ONLY gave fd %d", errname(e), fd);
    BLOCKED("userfaultfd: %s; user-mode-only: %s", errname(e), errname(errno));
}

/* init-module: loading kernel code.  A bogus image is refused by the ELF
 * checks (ENOEXEC/EINVAL) or a bad fd (EBADF) only AFTER the CAP_SYS_MODULE
 * check passed, so those errnos mean the call was allowed. */
static void probe_init_module(void)
{
    static const char junk[64] = "sandcastle escape-probe: this is not a kernel module";
    char d[96];
    int e1, e2;

    if (syscall(SYS_init_module, junk, sizeof junk, "") == 0)
        ESCAPED("init_module accepted a bogus module");
    e1 = errno;
    if (syscall(SYS_finit_module, -1, "", 0) == 0)
        ESCAPED("finit_module(-1) succeeded");
    e2 = errno;
    snprintf(d, sizeof d, "init_module: %s; finit_module: %s", errname(e1), errname(e2));
    if (!is_denial(e1) || !is_denial(e2))
        ESCAPED("call allowed (%s)", d);
    BLOCKED("%s", d);
}

/* kexec: replacing the running kernel.  DELIBERATE deviation from "0
 * segments": kexec_load with 0 segments UNLOADS an already loaded kexec
 * image when allowed.  KEXEC_SEGMENT_MAX+1 segments fails with EINVAL right
 * after the CAP_SYS_BOOT/lockdown checks instead, with no side effect. */
static void probe_kexec(void)
{
    if (syscall(SYS_kexec_load, 0UL, (unsigned long)(KEXEC_SEGMENT_MAX + 1), NULL,
                (unsigned long)KEXEC_ARCH_DEFAULT) == 0)
        ESCAPED("kexec_load succeeded");
    if (is_denial(errno))
        BLOCKED("kexec_load: %s", errname(errno));
    ESCAPED("kexec_load passed the permission check (%s)", errname(errno));
}

/* reboot: CAP_SYS_BOOT.  CAD_OFF is harmless: in a container's pid namespace
 * the kernel answers EINVAL after the capability check, on a host it only
 * sets Ctrl-Alt-Del to signal init. */
static void probe_reboot(void)
{
    if (syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                LINUX_REBOOT_CMD_CAD_OFF, NULL) == 0)
        ESCAPED("reboot(CAD_OFF) accepted");
    if (is_denial(errno))
        BLOCKED("reboot(CAD_OFF): %s", errname(errno));
    ESCAPED("reboot(CAD_OFF) passed the CAP_SYS_BOOT check (%s)", errname(errno));
}

/* settime: the clock is global to the host (time namespaces do not cover
 * CLOCK_REALTIME).  Sets it to its own current value. */
static void probe_settime(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (clock_settime(CLOCK_REALTIME, &ts) == 0)
        ESCAPED("clock_settime(CLOCK_REALTIME) succeeded");
    BLOCKED("clock_settime: %s", errname(errno));
}

/* swapon: swap configuration is global to the host (CAP_SYS_ADMIN is checked
 * first; the zero-filled file then fails the signature check). */
static void probe_swapon(void)
{
    static const char path[] = "/tmp/swap";
    char zero[4096];
    int fd, created = 0, i, r, e;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        created = 1;
        memset(zero, 0, sizeof zero);
        for (i = 0; i < 16; i++)
            if (write(fd, zero, sizeof zero) < 0)
                break;
        close(fd);
    }
    r = swapon(path, 0);
    e = errno;
    if (r == 0)
        swapoff(path);
    if (created)
        unlink(path);
    if (r == 0)
        ESCAPED("swapon(%s) succeeded (swapped off again)", path);
    if (is_denial(e))
        BLOCKED("swapon: %s", errname(e));
    ESCAPED("swapon passed the permission check (%s)", errname(e));
}

/* ======================================================================== */
/* Sockets                                                                   */

static void socket_probe(int domain, int type, int protocol, const char *what)
{
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd >= 0)
        ESCAPED("socket(%s) succeeded", what);
    BLOCKED("socket(%s): %s", what, errname(errno));
}

/* raw-socket: CAP_NET_RAW: packet forgery, and a history of kernel bugs. */
static void probe_raw_socket(void)
{
    socket_probe(AF_INET, SOCK_RAW, IPPROTO_ICMP, "AF_INET, SOCK_RAW");
}

/* packet-socket: AF_PACKET sniffs and injects link-layer frames (CAP_NET_RAW)
 * and has produced several kernel privilege escalations. */
static void probe_packet_socket(void)
{
    socket_probe(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL), "AF_PACKET, SOCK_RAW");
}

/* vsock-socket: AF_VSOCK talks to the hypervisor, around the container's
 * network namespace ("--network none" does not cover it). */
static void probe_vsock_socket(void)
{
    socket_probe(AF_VSOCK, SOCK_STREAM, 0, "AF_VSOCK, SOCK_STREAM");
}

/* alg-socket: AF_ALG exposes the kernel crypto API to user space, a
 * recurring source of kernel bugs that sandboxes do not need. */
static void probe_alg_socket(void)
{
    socket_probe(AF_ALG, SOCK_SEQPACKET, 0, "AF_ALG, SOCK_SEQPACKET");
}

/* network: with --network none only the loopback interface exists. */
static void probe_network(void)
{
    char seen[512] = "";
    struct ifaddrs *ifa, *p;
    int others = 0;

    if (getifaddrs(&ifa) == 0) {
        for (p = ifa; p; p = p->ifa_next) {
            char tok[IFNAMSIZ + 8];
            if (!p->ifa_name || strcmp(p->ifa_name, "lo") == 0)
                continue;
            snprintf(tok, sizeof tok, "%s%s,", p->ifa_name, (p->ifa_flags & IFF_UP) ? "(up)" : "");
            if (strstr(seen, tok))
                continue;
            /* "name," and "name(up)," are both kept only once */
            if (strlen(seen) + strlen(tok) < sizeof seen)
                strcat(seen, tok);
            others++;
        }
        freeifaddrs(ifa);
    } else {
        DIR *d = opendir("/sys/class/net");
        struct dirent *de;
        if (!d)
            ESCAPED("inconclusive: getifaddrs and /sys/class/net both failed (%s)", errname(errno));
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.' || strcmp(de->d_name, "lo") == 0)
                continue;
            if (strlen(seen) + strlen(de->d_name) + 2 < sizeof seen) {
                strcat(seen, de->d_name);
                strcat(seen, ",");
            }
            others++;
        }
        closedir(d);
    }
    if (others) {
        seen[strlen(seen) - 1] = '\0';
        ESCAPED("interfaces besides lo: %s", seen);
    }
    BLOCKED("only lo");
}

/* docker-socket: any path to the container engine (or to our own daemon) is
 * root on the host.  Looks at the well-known paths, then walks the tree a few
 * levels deep (not /proc, not /sys, never following symlinks). */
#define WALK_MAX_DEPTH 5
#define WALK_MAX_ENTRIES 200000

static int walk_entries;

static int interesting_name(const char *n)
{
    return strcasestr(n, "docker") || strcasestr(n, "containerd") || strcasestr(n, "sandcastle");
}

static void walk(int dirfd, const char *path, int depth, char *found, size_t flen)
{
    DIR *d = fdopendir(dirfd);
    struct dirent *de;

    if (!d) {
        close(dirfd);
        return;
    }
    while ((de = readdir(d)) && walk_entries < WALK_MAX_ENTRIES) {
        struct stat sb;
        char child[4096];

        walk_entries++;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(child, sizeof child, "%s/%s", strcmp(path, "/") ? path : "", de->d_name);
        if (depth == 1 && (strcmp(child, "/proc") == 0 || strcmp(child, "/sys") == 0))
            continue;
        if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISSOCK(sb.st_mode) && interesting_name(de->d_name)) {
            if (!strstr(found, child) && strlen(found) + strlen(child) + 2 < flen) {
                strcat(found, child);
                strcat(found, " ");
            }
        } else if (S_ISDIR(sb.st_mode) && depth < WALK_MAX_DEPTH) {
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                walk(sub, child, depth + 1, found, flen);
        }
    }
    closedir(d);
}

static void probe_docker_socket(void)
{
    static const char *known[] = { "/var/run/docker.sock", "/run/docker.sock",
                                   "/run/containerd/containerd.sock",
                                   "/run/sandcastle/sandcastled.sock" };
    char found[1024] = "", note[256] = "";
    size_t i;
    int root;

    for (i = 0; i < sizeof known / sizeof known[0]; i++) {
        struct stat sb;
        if (stat(known[i], &sb) == 0) {
            if (S_ISSOCK(sb.st_mode)) {
                strcat(found, known[i]);
                strcat(found, " ");
            } else if (strlen(note) + strlen(known[i]) + 24 < sizeof note) {
                strcat(note, known[i]);
                strcat(note, " exists (not a socket) ");
            }
        }
    }
    root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root >= 0)
        walk(root, "/", 1, found, sizeof found);
    if (found[0]) {
        /* Try the first one: "connects" means the engine is one request away. */
        struct sockaddr_un sa;
        const char *conn = "untested";
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, found, strcspn(found, " ") < sizeof sa.sun_path - 1
                                       ? strcspn(found, " ") : sizeof sa.sun_path - 1);
        if (fd >= 0)
            conn = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? "connects" : errname(errno);
        found[strlen(found) - 1] = '\0';
        ESCAPED("engine socket(s) found: %s (connect to first: %s)", found, conn);
    }
    BLOCKED("no engine socket (%d entries scanned, depth %d%s%s)", walk_entries,
            WALK_MAX_DEPTH, note[0] ? "; " : "", note);
}

/* ======================================================================== */
/* /proc and /dev interfaces                                                 */

/* sysrq: writing /proc/sysrq-trigger reboots or crashes the HOST.  The probe
 * only opens it for writing and never writes. */
static void probe_sysrq(void)
{
    int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        ESCAPED("/proc/sysrq-trigger opened for writing (nothing written)");
    }
    BLOCKED("open /proc/sysrq-trigger O_WRONLY: %s", errname(errno));
}

/* kmsg: the host's kernel log leaks addresses and other tenants' activity. */
static void probe_kmsg(void)
{
    char buf[8192];
    ssize_t n;
    int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        BLOCKED("open /dev/kmsg: %s", errname(errno));
    n = read(fd, buf, sizeof buf);
    if (n > 0)
        ESCAPED("read a %zd-byte record from /dev/kmsg", n);
    if (n == 0 || errno == EAGAIN)
        ESCAPED("/dev/kmsg opened for reading (log empty)");
    if (errno == EPIPE)
        ESCAPED("/dev/kmsg opened for reading (EPIPE: record overwritten)");
    BLOCKED("/dev/kmsg opened but read: %s", errname(errno));
}

/* caps: a sandbox process must hold no effective capability. */
static void probe_caps(void)
{
    char v[64];
    if (status_field("CapEff", v, sizeof v) < 0)
        ESCAPED("inconclusive: no CapEff in /proc/self/status");
    if (strtoull(v, NULL, 16) != 0)
        ESCAPED("CapEff=%s", v);
    BLOCKED("CapEff=%s", v);
}

/* no-new-privs: with no_new_privs set, execve can never raise privileges. */
static void probe_no_new_privs(void)
{
    char v[64];
    if (status_field("NoNewPrivs", v, sizeof v) < 0)
        ESCAPED("inconclusive: no NoNewPrivs in /proc/self/status");
    if (strcmp(v, "0") == 0)
        ESCAPED("NoNewPrivs=0");
    BLOCKED("NoNewPrivs=%s", v);
}

/* seccomp: a seccomp filter must be installed (mode 2). */
static void probe_seccomp(void)
{
    char v[64], n[64];
    if (status_field("Seccomp", v, sizeof v) < 0)
        ESCAPED("inconclusive: no Seccomp in /proc/self/status");
    if (status_field("Seccomp_filters", n, sizeof n) < 0)
        snprintf(n, sizeof n, "?");
    if (strcmp(v, "2") != 0)
        ESCAPED("Seccomp=%s (no filter)", v);
    BLOCKED("Seccomp=2 (filters=%s)", n);
}

/* ======================================================================== */
/* Resources                                                                 */

/* fork-bomb: the pids limit must stop a fork storm.  Forks sleepers until
 * fork fails, ~5 s pass or --fork-cap processes exist, then kills them all. */
static void probe_fork_bomb(void)
{
    long cap = opt.fork_cap, count = 0;
    pid_t *kids = calloc((size_t)cap, sizeof *kids);
    pid_t me = getpid();
    double start = now_s(), took;
    int err = 0;

    if (!kids)
        BLOCKED("calloc: ENOMEM");
    while (count < cap && now_s() - start < 5.0) {
        pid_t c = fork();
        if (c < 0) {
            err = errno;
            break;
        }
        if (c == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != me)
                _exit(0);
            for (;;)
                pause();
        }
        kids[count++] = c;
        set_progress(count, "processes");
    }
    took = now_s() - start;
    for (long i = 0; i < count; i++)
        kill(kids[i], SIGKILL);
    for (long i = 0; i < count; i++)
        waitpid(kids[i], NULL, 0);
    if (err)
        BLOCKED("fork failed with %s after %ld processes (%.2f s)", errname(err), count, took);
    ESCAPED("%ld processes in %.2f s without fork failing (%s)", count, took,
            count >= cap ? "--fork-cap reached" : "time limit reached");
}

/* Writes 1 MiB chunks to path until ENOSPC/EDQUOT (BLOCKED) or cap_mib
 * (ESCAPED: the filesystem has no effective size limit); removes the file. */
static void fill(const char *path, long cap_mib, const char *capflag)
{
    char *buf = malloc(MIB);
    long written = 0;
    double start = now_s();
    int fd, err = 0;

    if (!buf)
        BLOCKED("malloc: ENOMEM");
    memset(buf, 0x5a, MIB);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        BLOCKED("cannot create %s: %s", path, errname(errno));
    while (written < cap_mib) {
        size_t off = 0;
        while (off < (size_t)MIB) {
            ssize_t n = write(fd, buf + off, (size_t)MIB - off);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                err = errno;
                break;
            }
            off += (size_t)n;
        }
        if (err)
            break;
        written++;
        set_progress(written, "MiB");
    }
    close(fd);
    unlink(path);
    if (err == ENOSPC || err == EDQUOT)
        BLOCKED("%s after %ld MiB (%.1f s)", errname(err), written, now_s() - start);
    if (err)
        BLOCKED("write stopped by %s after %ld MiB", errname(err), written);
    ESCAPED("wrote %ld MiB to %s without hitting a limit (%s cap)", written, path, capflag);
}

/* tmpfs-fill: /tmp must be a size-limited tmpfs. */
static void probe_tmpfs_fill(void)
{
    fill("/tmp/fill", opt.tmpfs_cap_mib, "--tmpfs-cap-mib");
}

/* workspace-fill: a workspace with a size limit must enforce it. */
static void probe_workspace_fill(void)
{
    fill("/workspace/.fill", opt.workspace_cap_mib, "--workspace-cap-mib");
}

/* symlink-plant: informational.  Leaves /workspace/escape-link -> / behind so
 * host-side tests can check that the daemon never follows it (deleting,
 * copying or sizing a workspace). */
static void probe_symlink_plant(void)
{
    static const char link_path[] = "/workspace/escape-link";
    char target[8];
    ssize_t n;

    if (symlink("/", link_path) == 0)
        PLANTED("%s -> /", link_path);
    if (errno == EEXIST && (n = readlink(link_path, target, sizeof target - 1)) == 1 &&
        target[0] == '/')
        PLANTED("%s -> / (already there)", link_path);
    BLOCKED("symlink %s -> /: %s", link_path, errname(errno));
}

/* memory: the memory limit must stop a hog; the expected outcome is the OOM
 * killer (the probe makes itself its favourite victim with oom_score_adj). */
static void probe_memory(void)
{
    long touched = 0;
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

    if (fd >= 0) {
        if (write(fd, "1000", 4) < 0) {
            /* best effort */
        }
        close(fd);
    }
    while (touched < opt.memhog_cap_mib) {
        char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            BLOCKED("mmap failed with %s after %ld MiB", errname(errno), touched);
        memset(p, 0x5a, MIB);
        touched++;
        set_progress(touched, "MiB");
    }
    ESCAPED("touched %ld MiB without being stopped (--memhog-cap-mib)", touched);
}

/* ======================================================================== */
/* The battery                                                               */

enum gate { ALWAYS, NEEDS_WORKSPACE_LIMIT, NEEDS_MEMHOG };

static const struct probe {
    const char *name;
    void (*fn)(void);
    unsigned timeout_s;       /* alarm() in the child */
    enum gate gate;
    const char *leftover;     /* removed by the harness if the child dies early */
} probes[] = {
    { "userns",            probe_userns,            10, ALWAYS, NULL },
    { "mountns",           probe_mountns,           10, ALWAYS, NULL },
    { "netns",             probe_netns,             10, ALWAYS, NULL },
    { "clone-newuser",     probe_clone_newuser,     10, ALWAYS, NULL },
    { "clone3-ns",         probe_clone3_ns,         10, ALWAYS, NULL },
    { "setns",             probe_setns,             10, ALWAYS, NULL },
    { "mount",             probe_mount,             10, ALWAYS, NULL },
    { "remount-root",      probe_remount_root,      10, ALWAYS, NULL },
    { "chroot",            probe_chroot,            10, ALWAYS, NULL },
    { "pivot_root",        probe_pivot_root,        10, ALWAYS, NULL },
    { "ptrace",            probe_ptrace,            10, ALWAYS, NULL },
    { "keyctl",            probe_keyctl,            10, ALWAYS, NULL },
    { "bpf",               probe_bpf,               10, ALWAYS, NULL },
    { "perf_event_open",   probe_perf_event_open,   10, ALWAYS, NULL },
    { "io_uring",          probe_io_uring,          10, ALWAYS, NULL },
    { "userfaultfd",       probe_userfaultfd,       10, ALWAYS, NULL },
    { "raw-socket",        probe_raw_socket,        10, ALWAYS, NULL },
    { "packet-socket",     probe_packet_socket,     10, ALWAYS, NULL },
    { "vsock-socket",      probe_vsock_socket,      10, ALWAYS, NULL },
    { "alg-socket",        probe_alg_socket,        10, ALWAYS, NULL },
    { "mknod",             probe_mknod,             10, ALWAYS, NULL },
    { "write-root",        probe_write_root,        10, ALWAYS, NULL },
    { "sysrq",             probe_sysrq,             10, ALWAYS, NULL },
    { "kmsg",              probe_kmsg,              10, ALWAYS, NULL },
    { "settime",           probe_settime,           10, ALWAYS, NULL },
    { "reboot",            probe_reboot,            10, ALWAYS, NULL },
    { "init-module",       probe_init_module,       10, ALWAYS, NULL },
    { "kexec",             probe_kexec,             10, ALWAYS, NULL },
    { "swapon",            probe_swapon,            10, ALWAYS, NULL },
    { "setuid0",           probe_setuid0,           10, ALWAYS, NULL },
    { "network",           probe_network,           10, ALWAYS, NULL },
    { "docker-socket",     probe_docker_socket,     30, ALWAYS, NULL },
    { "suid",              probe_suid,              10, ALWAYS, NULL },
    { "open_by_handle_at", probe_open_by_handle_at, 10, ALWAYS, NULL },
    { "caps",              probe_caps,              10, ALWAYS, NULL },
    { "no-new-privs",      probe_no_new_privs,      10, ALWAYS, NULL },
    { "seccomp",           probe_seccomp,           10, ALWAYS, NULL },
    /* resource probes */
    { "fork-bomb",         probe_fork_bomb,         30, ALWAYS, NULL },
    { "tmpfs-fill",        probe_tmpfs_fill,       300, ALWAYS, "/tmp/fill" },
    { "workspace-fill",    probe_workspace_fill,   300, NEEDS_WORKSPACE_LIMIT, "/workspace/.fill" },
    { "symlink-plant",     probe_symlink_plant,     10, ALWAYS, NULL },
    { "memory",            probe_memory,           300, NEEDS_MEMHOG, NULL }, /* keep last */
};
#define NPROBES (sizeof probes / sizeof probes[0])

/* Kills whatever is left of a probe's process group and reaps every child
 * (we are a child subreaper, so orphaned grandchildren come back to us). */
static void reap_everything(pid_t pgid)
{
    double deadline = now_s() + 3.0;

    if (pgid > 0)
        kill(-pgid, SIGKILL);
    for (;;) {
        pid_t r = waitpid(-1, NULL, WNOHANG | __WALL);
        if (r > 0)
            continue;
        if (r < 0 || now_s() > deadline)
            break;
        usleep(10000);
    }
}

static void print_line(const char *name, const char *verdict_word, const char *detail)
{
    char clean[600];
    size_t i;

    snprintf(clean, sizeof clean, "%s", detail);
    for (i = 0; clean[i]; i++)
        if ((unsigned char)clean[i] < 0x20 || (unsigned char)clean[i] == 0x7f)
            clean[i] = '?';
    printf("PROBE %s %s %s\n", name, verdict_word, clean);
    fflush(stdout);
}

/* Runs one probe in a forked child; returns 'B', 'E' or 'P'. */
static char run_probe(const struct probe *p)
{
    char buf[700], detail[700], kind = 0;
    int pfd[2], st = 0, grouped, timed_out = 0, tries;
    pid_t pid = -1;
    ssize_t n;
    double deadline;

    if (pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(detail, sizeof detail, "inconclusive: harness pipe: %s", errname(errno));
        print_line(p->name, "ESCAPED", detail);
        return 'E';
    }
    set_progress(-1, "");
    fflush(stdout);
    fflush(stderr);
    /* After a fork storm the pids cgroup may need a moment to drain. */
    for (tries = 0; tries < 50; tries++) {
        pid = fork();
        if (pid >= 0 || errno != EAGAIN)
            break;
        usleep(100000);
    }
    if (pid < 0) {
        snprintf(detail, sizeof detail, "inconclusive: harness fork: %s", errname(errno));
        close(pfd[0]);
        close(pfd[1]);
        print_line(p->name, "ESCAPED", detail);
        return 'E';
    }
    if (pid == 0) {
        setpgid(0, 0);
        close(pfd[0]);
        g_result_fd = pfd[1];
        signal(SIGALRM, SIG_DFL);
        alarm(p->timeout_s);
        p->fn();
        verdict('E', "inconclusive: probe returned without a verdict");
    }
    grouped = setpgid(pid, pid) == 0 || getpgid(pid) == pid;
    close(pfd[1]);

    /* The child has its own alarm(); this deadline also covers a child that
     * is stopped or ignores SIGALRM. */
    deadline = now_s() + p->timeout_s + 5;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            st = 0;
            break;
        }
        if (now_s() > deadline) {
            if (grouped)
                kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            timed_out = 1;
            break;
        }
        usleep(5000);
    }

    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    n = read(pfd[0], buf, sizeof buf - 1);
    close(pfd[0]);
    reap_everything(grouped ? pid : 0);
    if (p->leftover)
        unlink(p->leftover);

    if (n >= 2 && (buf[0] == 'B' || buf[0] == 'E' || buf[0] == 'P')) {
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        kind = buf[0];
        snprintf(detail, sizeof detail, "%s", buf + 2);
    } else if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        char extra[96] = "";
        if (g_progress && g_progress->value >= 0)
            snprintf(extra, sizeof extra, " after %ld %s", g_progress->value, g_progress->unit);
        kind = 'B';
        snprintf(detail, sizeof detail, "killed by %s%s%s", signame(sig), extra,
                 timed_out ? " (harness timeout)"
                 : sig == SIGALRM ? " (timeout)"
                 : sig == SIGSYS ? " (seccomp)"
                 : sig == SIGKILL ? " (OOM killer?)" : "");
    } else {
        kind = 'E';
        snprintf(detail, sizeof detail, "inconclusive: probe exited with status %d and no verdict",
                 WIFEXITED(st) ? WEXITSTATUS(st) : st);
    }
    print_line(p->name, kind == 'B' ? "BLOCKED" : kind == 'E' ? "ESCAPED" : "PLANTED", detail);
    return kind;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: escape-probe " SAFETY_FLAG " [options]\n"
        "       escape-probe --list\n"
        "\n"
        "Sandcastle's sandbox escape battery.  Run ONLY inside a sandbox container.\n"
        "Prints 'PROBE <name> BLOCKED|ESCAPED|PLANTED <detail>' per probe, then\n"
        "'SUMMARY blocked=N escaped=M'; exits 0 if nothing escaped, 1 otherwise.\n"
        "\n"
        "  --only a,b,c            run only these probes\n"
        "  --list                  print the probe names\n"
        "  --tmpfs-cap-mib N       tmpfs-fill stops (ESCAPED) after N MiB (default 1024)\n"
        "  --workspace-limit       also run workspace-fill (the workspace has a size limit)\n"
        "  --workspace-cap-mib N   workspace-fill stops (ESCAPED) after N MiB (default 1024)\n"
        "  --fork-cap N            fork-bomb stops (ESCAPED) after N processes (default 2048)\n"
        "  --memhog                also run the memory probe, last (expect an OOM kill)\n"
        "  --memhog-cap-mib N      memory stops (ESCAPED) after N MiB (default 4096)\n"
        "  --report-euid           print 'euid=<n> uid=<n>' and exit (used by suid-probe)\n");
}

static long parse_count(const char *flag, const char *v)
{
    char *end;
    long n;

    if (!v) {
        fprintf(stderr, "escape-probe: %s needs a number\n", flag);
        exit(2);
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || n <= 0 || n > 1L << 30) {
        fprintf(stderr, "escape-probe: %s: invalid number '%s'\n", flag, v);
        exit(2);
    }
    return n;
}

static const struct probe *find_probe(const char *name)
{
    for (size_t i = 0; i < NPROBES; i++)
        if (strcmp(probes[i].name, name) == 0)
            return &probes[i];
    return NULL;
}

int main(int argc, char **argv)
{
    char selected[NPROBES];
    const char *only = NULL;
    int i, report_euid = 0, blocked = 0, escaped = 0;

    /* Harmless read-only modes that do not need the safety flag. */
    if (argc == 2 && (strcmp(argv[1], "--list") == 0)) {
        for (size_t k = 0; k < NPROBES; k++)
            printf("%s\n", probes[k].name);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], SAFETY_FLAG) != 0) {
        fprintf(stderr,
            "escape-probe: refusing to run.\n"
            "This program deliberately attempts sandbox escapes: it creates namespaces,\n"
            "mounts filesystems, sets the clock, calls reboot/kexec/module syscalls, runs a\n"
            "fork storm and fills /tmp.  Run it only inside a Sandcastle test container,\n"
            "never on a host, with " SAFETY_FLAG " as the FIRST argument.\n");
        return 2;
    }

    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--list") == 0) {
            for (size_t k = 0; k < NPROBES; k++)
                printf("%s\n", probes[k].name);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--report-euid") == 0) {
            report_euid = 1;
        } else if (strcmp(a, "--only") == 0) {
            if (!next) {
                fprintf(stderr, "escape-probe: --only needs a list of names\n");
                return 2;
            }
            only = next;
            i++;
        } else if (strncmp(a, "--only=", 7) == 0) {
            only = a + 7;
        } else if (strcmp(a, "--tmpfs-cap-mib") == 0) {
            opt.tmpfs_cap_mib = parse_count(a, next);
            i++;
        } else if (strcmp(a, "--workspace-limit") == 0) {
            opt.workspace_fill = 1;
        } else if (strcmp(a, "--workspace-cap-mib") == 0) {
            opt.workspace_cap_mib = parse_count(a, next);
            i++;
        } else if (strcmp(a, "--fork-cap") == 0) {
            opt.fork_cap = parse_count(a, next);
            i++;
        } else if (strcmp(a, "--memhog") == 0) {
            opt.memhog = 1;
        } else if (strcmp(a, "--memhog-cap-mib") == 0) {
            opt.memhog_cap_mib = parse_count(a, next);
            i++;
        } else {
            fprintf(stderr, "escape-probe: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }

    if (report_euid) {
        printf("euid=%u uid=%u\n", (unsigned)geteuid(), (unsigned)getuid());
        return 0;
    }

    /* Which probes run: everything not gated, or exactly the --only list. */
    for (size_t k = 0; k < NPROBES; k++)
        selected[k] = only == NULL &&
                      (probes[k].gate == ALWAYS ||
                       (probes[k].gate == NEEDS_WORKSPACE_LIMIT && opt.workspace_fill) ||
                       (probes[k].gate == NEEDS_MEMHOG && opt.memhog));
    if (only) {
        char *list = strdup(only), *save = NULL, *tok;
        if (!list)
            return 2;
        for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            const struct probe *p = find_probe(tok);
            if (!p) {
                fprintf(stderr, "escape-probe: unknown probe '%s' (see --list)\n", tok);
                return 2;
            }
            if (p->gate == NEEDS_WORKSPACE_LIMIT && !opt.workspace_fill) {
                fprintf(stderr, "escape-probe: %s needs --workspace-limit\n", tok);
                return 2;
            }
            if (p->gate == NEEDS_MEMHOG && !opt.memhog) {
                fprintf(stderr, "escape-probe: %s needs --memhog\n", tok);
                return 2;
            }
            selected[p - probes] = 1;
        }
        free(list);
    }

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    /* Orphaned grandchildren (fork-bomb sleepers, ...) come back to us. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    g_progress = mmap(NULL, sizeof *g_progress, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_progress == MAP_FAILED)
        g_progress = NULL;

    for (size_t k = 0; k < NPROBES; k++) {
        if (!selected[k])
            continue;
        if (probes[k].gate == NEEDS_MEMHOG)
            fprintf(stderr, "escape-probe: memory: touching up to %ld MiB; an OOM kill of "
                            "this probe or of the container is the expected outcome\n",
                    opt.memhog_cap_mib);
        switch (run_probe(&probes[k])) {
        case 'B': blocked++; break;
        case 'E': escaped++; break;
        default: break;
        }
    }
    printf("SUMMARY blocked=%d escaped=%d\n", blocked, escaped);
    fflush(stdout);
    return escaped ? 1 : 0;
}
