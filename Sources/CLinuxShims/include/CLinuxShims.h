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

/// openat2(2) through syscall(2) (glibc has no wrapper): opens `path` beneath `dirfd` with `flags`
/// and `mode`, resolving as `resolve` (RESOLVE_* bits) says. -1 with errno on failure; ENOSYS on a
/// kernel older than 5.6.
int CLinuxShims_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve);

/// The RESOLVE_* bits openat2 takes (linux/openat2.h).
extern const unsigned long long CLinuxShims_RESOLVE_BENEATH;
extern const unsigned long long CLinuxShims_RESOLVE_NO_SYMLINKS;
extern const unsigned long long CLinuxShims_RESOLVE_NO_MAGICLINKS;
extern const unsigned long long CLinuxShims_RESOLVE_NO_XDEV;

/// renameat2(2), with RENAME_NOREPLACE available as a flag.
int CLinuxShims_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
extern const unsigned int CLinuxShims_RENAME_NOREPLACE;
#endif

#endif
