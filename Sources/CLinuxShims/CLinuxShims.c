#if defined(__linux__)
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include "CLinuxShims.h"

int CLinuxShims_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int CLinuxShims_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int CLinuxShims_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve) {
    struct open_how how = { .flags = (unsigned long long)flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

const unsigned long long CLinuxShims_RESOLVE_BENEATH = RESOLVE_BENEATH;
const unsigned long long CLinuxShims_RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS;
const unsigned long long CLinuxShims_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS;
const unsigned long long CLinuxShims_RESOLVE_NO_XDEV = RESOLVE_NO_XDEV;

int CLinuxShims_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

const unsigned int CLinuxShims_RENAME_NOREPLACE = RENAME_NOREPLACE;
#endif
