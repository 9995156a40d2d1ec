#ifndef C_LINUX_SHIMS_H
#define C_LINUX_SHIMS_H

#if defined(__linux__)
#include <spawn.h>

// glibc calls that Swift's Glibc module does not import, because they are declared only under
// _GNU_SOURCE. Each is defined in CLinuxShims.c, compiled with _GNU_SOURCE.

/// pipe2(2): both ends created with `flags` (O_CLOEXEC) atomically, so a process spawned by another
/// thread meanwhile never inherits them.
int CLinuxShims_pipe2(int fds[2], int flags);

/// posix_spawn_file_actions_addclosefrom_np(3) (glibc >= 2.34): the child closes every descriptor
/// from `from` up, whether or not it is close-on-exec.
int CLinuxShims_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from);
#endif

#endif
