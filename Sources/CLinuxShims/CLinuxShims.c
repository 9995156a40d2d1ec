#if defined(__linux__)
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include "CLinuxShims.h"

int CLinuxShims_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int CLinuxShims_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
#endif
