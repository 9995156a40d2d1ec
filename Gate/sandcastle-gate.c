/*
 * sandcastle-gate: the first process of a warm-pool container (under the engine's init).
 *
 * A pool container is started ahead of time, as uid 0 with only CAP_SETUID, CAP_SETGID,
 * CAP_SETPCAP and CAP_CHOWN (no-new-privileges, the profile's seccomp filter, no network). The
 * gate puts its terminal in raw mode without echo, says it is ready by creating READY_FILE in the
 * slot directory (/workspace, before a workspace is mounted over it), and waits on the terminal
 * for one claim message from sandcastled:
 *
 *   "SCG1" | u32 big-endian payload length | payload
 *   payload = NUL-terminated fields: uid, gid, cwd, env count, env..., argc, argv...
 *
 * Then it restores the terminal's cooked mode, gives /tmp to the workspace user, empties the
 * capability bounding set and the ambient set, locks the securebits, switches to uid/gid (which
 * clears the permitted and effective sets), checks that no capability is left, changes to cwd
 * and execs argv with the image's environment overlaid by env. Anything wrong: a message on the
 * terminal and exit 126 (127 when argv[0] cannot be executed), so the session ends visibly.
 *
 * Built static (scripts/build-gate) so that it runs in any image. It never runs untrusted input
 * as root: the message comes only from the daemon over the attach stream, and nothing of the
 * session runs before the switch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#define READY_FILE "/workspace/.sandcastle-gate-ready"
#define MAX_PAYLOAD (1u << 20)
#define MAX_FIELDS 8192

extern char **environ;

static void fail(int code, const char *what) {
    int saved = errno;
    char line[512];
    int n = snprintf(line, sizeof line, "\r\nsandcastle-gate: %s%s%s\r\n", what, saved ? ": " : "",
                     saved ? strerror(saved) : "");
    if (n > 0) (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    _exit(code);
}

static void read_exactly(unsigned char *buffer, size_t length) {
    size_t done = 0;
    while (done < length) {
        ssize_t n = read(STDIN_FILENO, buffer + done, length - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = 0;
            fail(126, "the terminal closed before the claim message arrived");
        }
        done += (size_t)n;
    }
}

/* Parses a decimal id in 1 ... 2^32-2 (never root, never the "unset" id). */
static uid_t parse_id(const char *text, const char *what) {
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || !end || *end || end == text || value == 0 || value >= 0xffffffffULL) {
        errno = 0;
        fail(126, what);
    }
    return (uid_t)value;
}

static long parse_count(const char *text) {
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || !end || *end || end == text || value < 0 || value > MAX_FIELDS) {
        errno = 0;
        fail(126, "bad count in the claim message");
    }
    return value;
}

/* Replaces or adds each NAME=VALUE of `overlay` in the inherited environment. */
static char **merged_environment(char **overlay, long count) {
    long inherited = 0;
    while (environ[inherited]) inherited++;
    char **merged = calloc((size_t)(inherited + count + 1), sizeof(char *));
    if (!merged) fail(126, "out of memory");
    long size = 0;
    for (long i = 0; i < inherited; i++) merged[size++] = environ[i];
    for (long i = 0; i < count; i++) {
        const char *equals = strchr(overlay[i], '=');
        if (!equals || equals == overlay[i]) {
            errno = 0;
            fail(126, "an environment entry without NAME=");
        }
        size_t name = (size_t)(equals - overlay[i]) + 1;
        long j = 0;
        for (; j < size; j++)
            if (strncmp(merged[j], overlay[i], name) == 0) break;
        merged[j] = overlay[i];
        if (j == size) size++;
    }
    merged[size] = NULL;
    return merged;
}

static void drop_privileges(uid_t uid, gid_t gid) {
    gid_t groups[1] = {gid};
    if (setgroups(1, groups) != 0) fail(126, "setgroups");
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break; /* past the kernel's last capability */
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) fail(126, "dropping the capability bounding set");
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        fail(126, "clearing the ambient capabilities");
    /* Root is never special again, and setuid keeps clearing capabilities: both locked. */
    if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                     SECBIT_NO_SETUID_FIXUP_LOCKED, 0, 0, 0) != 0)
        fail(126, "locking the securebits");
    if (setresgid(gid, gid, gid) != 0) fail(126, "setresgid");
    if (setresuid(uid, uid, uid) != 0) fail(126, "setresuid");
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) fail(126, "capset");
    if (syscall(SYS_capget, &header, data) != 0) fail(126, "capget");
    for (int i = 0; i < 2; i++) {
        if (data[i].effective || data[i].permitted || data[i].inheritable) {
            errno = 0;
            fail(126, "capabilities left after the switch; refusing to run the session");
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(126, "no-new-privileges");
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) {
        errno = 0;
        fail(126, "the uid or gid did not change");
    }
}

int main(void) {
    struct termios cooked, raw;
    int is_tty = tcgetattr(STDIN_FILENO, &cooked) == 0;
    if (is_tty) {
        raw = cooked;
        cfmakeraw(&raw);
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0) fail(126, "setting the terminal to raw mode");
    }
    int ready = open(READY_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (ready < 0) fail(126, "creating " READY_FILE);
    close(ready);

    unsigned char header[8];
    read_exactly(header, sizeof header);
    if (memcmp(header, "SCG1", 4) != 0) {
        errno = 0;
        fail(126, "not a claim message");
    }
    uint32_t length = ((uint32_t)header[4] << 24) | ((uint32_t)header[5] << 16) | ((uint32_t)header[6] << 8) | header[7];
    if (length == 0 || length > MAX_PAYLOAD) {
        errno = 0;
        fail(126, "claim message too large");
    }
    char *payload = malloc((size_t)length + 1);
    if (!payload) fail(126, "out of memory");
    read_exactly((unsigned char *)payload, length);
    payload[length] = '\0';
    if (payload[length - 1] != '\0') {
        errno = 0;
        fail(126, "claim message not NUL-terminated");
    }

    char *fields[2 * MAX_FIELDS + 8];
    long count = 0;
    for (char *p = payload; p < payload + length && count < (long)(sizeof fields / sizeof *fields); p += strlen(p) + 1)
        fields[count++] = p;
    if (count < 6) {
        errno = 0;
        fail(126, "claim message too short");
    }
    uid_t uid = parse_id(fields[0], "bad uid in the claim message");
    gid_t gid = parse_id(fields[1], "bad gid in the claim message");
    const char *cwd = fields[2];
    long env_count = parse_count(fields[3]);
    if (4 + env_count + 1 > count) {
        errno = 0;
        fail(126, "claim message truncated (environment)");
    }
    char **env = &fields[4];
    long argc = parse_count(fields[4 + env_count]);
    if (argc < 1 || 5 + env_count + argc != count) {
        errno = 0;
        fail(126, "claim message has a bad argument list");
    }
    char **argv = calloc((size_t)argc + 1, sizeof(char *));
    if (!argv) fail(126, "out of memory");
    for (long i = 0; i < argc; i++) argv[i] = fields[5 + env_count + i];

    if (is_tty && tcsetattr(STDIN_FILENO, TCSANOW, &cooked) != 0) fail(126, "restoring the terminal");
    if (chown("/tmp", uid, gid) != 0 && errno != ENOENT) fail(126, "giving /tmp to the workspace user");
    drop_privileges(uid, gid);
    if (chdir(cwd) != 0) fail(126, "changing to the working directory");
    environ = merged_environment(env, env_count);
    execvp(argv[0], argv);
    fail(errno == ENOENT ? 127 : 126, argv[0]);
    return 126;
}
