/*
 * memhog: allocate and touch memory in 1 MiB steps, printing progress, until
 * killed (the test image's way to hit a container's memory limit).
 *
 *   memhog [MIB [HOLD_SECONDS]]
 *
 * MIB          how many MiB to allocate at most (default / 0: no limit, go on
 *              until the kernel kills us or allocation fails).
 * HOLD_SECONDS after reaching MIB, keep the memory and sleep this long before
 *              exiting (default 0; -1 = forever), e.g. to read memory usage.
 *
 * Output, one line per step, flushed at once:   memhog: 17 MiB
 * then on success:                               memhog: done 64 MiB
 * Exit codes: 0 reached MIB; 2 bad usage; 3 allocation failed (printed as
 * "memhog: allocation failed at N MiB"). An OOM kill shows as SIGKILL (137).
 *
 * Pages are filled with a non-zero byte so each one is really backed by RAM
 * (a zero fill could be satisfied by the shared zero page).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEP (1024L * 1024L)

static long parse(const char *s, const char *what) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        fprintf(stderr, "memhog: bad %s: %s\nusage: memhog [MIB [HOLD_SECONDS]]\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    long limit = 0, hold = 0;
    if (argc > 3 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: memhog [MIB [HOLD_SECONDS]]\n");
        return 2;
    }
    if (argc > 1) limit = parse(argv[1], "MiB count");
    if (argc > 2) hold = parse(argv[2], "hold seconds");
    if (limit < 0) {
        fprintf(stderr, "memhog: MiB count must be >= 0\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);

    long mib = 0;
    while (limit == 0 || mib < limit) {
        char *p = malloc(STEP);
        if (p == NULL) {
            printf("memhog: allocation failed at %ld MiB\n", mib);
            return 3;
        }
        memset(p, 0xA5, STEP);  /* touch every page; the block is never freed */
        mib++;
        printf("memhog: %ld MiB\n", mib);
    }
    printf("memhog: done %ld MiB\n", mib);
    if (hold < 0) {
        for (;;) pause();
    }
    while (hold > 0) hold = (long)sleep((unsigned)hold);
    return 0;
}
