/*
 * sandcastle-egress-forward: the in-container end of a session's egress.
 *
 *   sandcastle-egress-forward COMMAND [ARGS...]
 *
 * A session's container has no network: only its own loopback. Tools expect an HTTP proxy on
 * TCP (HTTPS_PROXY=http://127.0.0.1:3128), so this program listens on 127.0.0.1:3128 in the
 * container's network namespace and relays each connection, byte for byte, to the daemon's
 * egress proxy on the unix socket SOCKET_PATH (a directory the daemon binds read-only into the
 * container; the daemon re-creates the socket in it when it restarts). All policy lives in the
 * daemon: this program decides nothing, so killing or replacing it gains a session nothing.
 *
 * It is a wrapper so that the port is listening before the session's command runs (no race on
 * the first request): it binds the port, forks the relay into its own session (so the terminal's
 * ^C and SIGHUP never reach it; it also dies with the command through PR_SET_PDEATHSIG), and
 * execs COMMAND in its own place, keeping the pid, the terminal and the exit status the command
 * would have had. The daemon starts it the same way on a cold launch (as the container's
 * entrypoint) and on a warm-pool claim (the gate execs it with the command as its arguments),
 * so a claim costs one extra exec and no engine call. It runs as the session's uid with no
 * capabilities, like the command. Built static (scripts/build-gate) so that it runs in any image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SOCKET_PATH "/.sandcastle/egress/proxy.sock"
#define LISTEN_PORT 3128
#define MAX_PAIRS 512
#define PIPE_BYTES (1024 * 1024)

/*
 * Bytes move with splice(2) through a pipe per direction: the kernel hands the socket's pages to
 * the pipe and on to the other socket, so this process copies nothing (a relay of ours on each
 * side of the daemon would otherwise double the copies of every download). A pipe that cannot
 * be made, or a splice the kernel refuses, falls back to read and write through a buffer.
 */
struct direction {
    int pipe[2];     /* [0] read end, [1] write end; -1 when copying through `data` instead */
    char *data;      /* the copy fallback's buffer */
    size_t capacity; /* what the pipe (or the buffer) holds */
    size_t pending;  /* bytes read from the source and not yet written */
    size_t start;    /* the copy fallback: where the pending bytes begin in `data` */
    int full;        /* the pipe took no more (its slots hold pages, not bytes) until a write */
    int eof;         /* the reading side ended; shut the writing side down once drained */
};

struct pair {
    int fd[2]; /* 0: the client (TCP), 1: the daemon (unix) */
    struct direction dir[2]; /* dir[i]: bytes read from fd[i], to be written to fd[1 - i] */
    int shut[2]; /* fd[i] was shut down for writing */
};

static struct pair pairs[MAX_PAIRS];
static int pair_count;

static void die(const char *what) {
    fprintf(stderr, "sandcastle-egress-forward: %s: %s\n", what, strerror(errno));
    exit(126);
}

static void release_direction(struct direction *d) {
    if (d->pipe[0] >= 0) close(d->pipe[0]);
    if (d->pipe[1] >= 0) close(d->pipe[1]);
    d->pipe[0] = d->pipe[1] = -1;
    free(d->data);
    d->data = NULL;
}

/* A pipe for splicing, or the copy fallback's buffer; 0 when neither could be had. */
static int prepare_direction(struct direction *d) {
    d->pipe[0] = d->pipe[1] = -1;
    if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
        /* Larger than the default 64 KiB, so that one splice moves what a socket holds; the
           kernel may refuse (pipe-max-size, the user's pipe quota): the pipe works either way. */
        (void)fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_BYTES);
        int size = fcntl(d->pipe[1], F_GETPIPE_SZ);
        d->capacity = size > 0 ? (size_t)size : 4096;
        return 1;
    }
    d->pipe[0] = d->pipe[1] = -1;
    d->capacity = PIPE_BYTES;
    d->data = malloc(PIPE_BYTES);
    return d->data != NULL;
}

/* How many more bytes this direction can take in. */
static size_t room(const struct direction *d) {
    return d->full || d->pending >= d->capacity ? 0 : d->capacity - d->pending;
}

static void close_pair(int index) {
    struct pair *p = &pairs[index];
    close(p->fd[0]);
    close(p->fd[1]);
    release_direction(&p->dir[0]);
    release_direction(&p->dir[1]);
    pairs[index] = pairs[--pair_count];
}

static void accept_one(int listener) {
    int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;
    if (pair_count == MAX_PAIRS) {
        close(client);
        return;
    }
    int upstream = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strncpy(address.sun_path, SOCKET_PATH, sizeof address.sun_path - 1);
    if (upstream < 0 || connect(upstream, (struct sockaddr *)&address, sizeof address) < 0) {
        /* The daemon is away (restarting): answer like a proxy would, so the tool says why. */
        static const char reply[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                                    "Content-Length: 55\r\n\r\nthe Sandcastle daemon's egress proxy is not reachable\r\n";
        (void)!write(client, reply, sizeof reply - 1);
        close(client);
        if (upstream >= 0) close(upstream);
        return;
    }
    fcntl(upstream, F_SETFL, O_NONBLOCK);
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct pair *p = &pairs[pair_count];
    memset(p, 0, sizeof *p);
    p->fd[0] = client;
    p->fd[1] = upstream;
    if (!prepare_direction(&p->dir[0]) || !prepare_direction(&p->dir[1])) {
        release_direction(&p->dir[0]);
        release_direction(&p->dir[1]);
        close(client);
        close(upstream);
        return;
    }
    pair_count++;
}

/* Reads what `from` has into the direction: > 0 bytes, 0 at the end, -1 with errno. */
static ssize_t take(struct direction *d, int from) {
    size_t space = room(d);
    if (d->pipe[1] >= 0) {
        ssize_t n = splice(from, NULL, d->pipe[1], NULL, space, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n >= 0 || errno != EINVAL || d->pending > 0) return n;
        /* The kernel cannot splice this socket: copy from now on (the pipe is empty). */
        release_direction(d);
        d->capacity = PIPE_BYTES;
        if (!(d->data = malloc(PIPE_BYTES))) return -1;
    }
    if (d->start + d->pending == PIPE_BYTES) {
        memmove(d->data, d->data + d->start, d->pending);
        d->start = 0;
    }
    return read(from, d->data + d->start + d->pending, PIPE_BYTES - d->start - d->pending);
}

/* Writes what the direction holds to `to`: bytes written, or -1 with errno. */
static ssize_t give(struct direction *d, int to) {
    if (d->pipe[0] >= 0) return splice(d->pipe[0], NULL, to, NULL, d->pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    ssize_t n = write(to, d->data + d->start, d->pending);
    if (n > 0) d->start = (size_t)n == d->pending ? 0 : d->start + (size_t)n;
    return n;
}

/* Moves what it can for one pair; returns 0 when the pair is finished. */
static int pump(struct pair *p, const short revents[2]) {
    for (int i = 0; i < 2; i++) {
        struct direction *d = &p->dir[i];
        int from = p->fd[i], to = p->fd[1 - i];
        if (!d->eof && room(d) > 0 && (revents[i] & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = take(d, from);
            if (n > 0) d->pending += (size_t)n;
            else if (n == 0) d->eof = 1;
            else if (errno == EAGAIN && d->pending > 0) d->full = 1;
            else if (errno != EAGAIN && errno != EINTR) return 0;
        }
        if (d->pending > 0) {
            ssize_t n = give(d, to);
            if (n > 0) {
                d->pending -= (size_t)n;
                d->full = 0;
            }
            else if (n < 0 && errno != EAGAIN && errno != EINTR) return 0;
        }
        if (d->eof && d->pending == 0 && !p->shut[1 - i]) {
            shutdown(to, SHUT_WR);
            p->shut[1 - i] = 1;
        }
        /* Hung up (both ways) after its end was read: nothing can be written to it any more. */
        if (d->eof && (revents[i] & (POLLHUP | POLLERR))) return 0;
    }
    return !(p->shut[0] && p->shut[1]);
}

static void relay(int listener) {
    static struct pollfd fds[1 + 2 * MAX_PAIRS];
    for (;;) {
        fds[0] = (struct pollfd){.fd = listener, .events = pair_count < MAX_PAIRS ? POLLIN : 0};
        for (int i = 0; i < pair_count; i++) {
            struct pair *p = &pairs[i];
            for (int side = 0; side < 2; side++) {
                short events = 0;
                if (!p->dir[side].eof && room(&p->dir[side]) > 0) events |= POLLIN;
                if (p->dir[1 - side].pending > 0) events |= POLLOUT;
                fds[1 + 2 * i + side] = (struct pollfd){.fd = p->fd[side], .events = events};
            }
        }
        if (poll(fds, (nfds_t)(1 + 2 * pair_count), -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        for (int i = pair_count - 1; i >= 0; i--) {
            short revents[2] = {fds[1 + 2 * i].revents, fds[2 + 2 * i].revents};
            if ((revents[0] | revents[1]) == 0) continue;
            if (!pump(&pairs[i], revents)) close_pair(i);
        }
        if (fds[0].revents & POLLIN) accept_one(listener);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: sandcastle-egress-forward COMMAND [ARGS...]\n");
        return 126;
    }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listener < 0) die("socket");
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(LISTEN_PORT),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0) die("binding 127.0.0.1:3128");
    if (listen(listener, 128) < 0) die("listen");

    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
        setsid();
        signal(SIGPIPE, SIG_IGN);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        relay(listener);
        _exit(0);
    }
    close(listener);
    execvp(argv[1], argv + 1);
    int saved = errno;
    fprintf(stderr, "sandcastle-egress-forward: cannot run %s: %s\n", argv[1], strerror(saved));
    return saved == ENOENT ? 127 : 126;
}
