#ifndef C_LINUX_SHIMS_H
#define C_LINUX_SHIMS_H

#if defined(__linux__)
#include <spawn.h>
#include <stdint.h>

// glibc calls that Swift's Glibc module does not import, because they are declared only under
// _GNU_SOURCE. Each is defined in CLinuxShims.c, compiled with _GNU_SOURCE.

/// pipe2(2): both ends created with `flags` (O_CLOEXEC) atomically, so a process spawned by another
/// thread meanwhile never inherits them.
int CLinuxShims_pipe2(int fds[2], int flags);

/// posix_spawn_file_actions_addclosefrom_np(3) (glibc >= 2.34): the child closes every descriptor
/// from `from` up, whether or not it is close-on-exec.
int CLinuxShims_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from);

// Project quotas (ProjectQuota.c). Each returns 0, or -errno.

/// A project's hard limits (0: none) and usage, as quotactl(Q_GETQUOTA, PRJQUOTA) reports them.
typedef struct {
    uint64_t block_limit_bytes;
    uint64_t used_bytes;
    uint64_t inode_limit;
    uint64_t used_inodes;
} CLinuxShims_project_quota;

/// Whether project quotas are enforced on the file system of `fd` (Q_XGETQSTATV): 0 when they are,
/// -ESRCH when the file system supports but does not enforce them, -ENOSYS/-EOPNOTSUPP/-ENOTTY when
/// it has none. Needs no capability.
int CLinuxShims_project_quota_state(int fd);

/// quotactl_fd(Q_GETQUOTA, PRJQUOTA): needs CAP_SYS_ADMIN.
int CLinuxShims_project_quota_get(int fd, uint32_t project, CLinuxShims_project_quota *out);

/// quotactl_fd(Q_SETQUOTA, PRJQUOTA) with hard and soft limits equal: needs CAP_SYS_ADMIN.
int CLinuxShims_project_quota_set(int fd, uint32_t project, uint64_t block_limit_bytes, uint64_t inode_limit);

/// fstatfs(2)'s f_type (the file system's magic number), or -1. (Swift's Glibc lacks sys/vfs.h.)
long CLinuxShims_file_system_magic(int fd);

/// FS_IOC_FSGETXATTR: the project id and FS_XFLAG_* flags of the file `fd`.
int CLinuxShims_get_project(int fd, uint32_t *project, uint32_t *flags);

/// FS_IOC_FSSETXATTR: sets the project id of `fd` and, with `inherit`, FS_XFLAG_PROJINHERIT (new
/// files and directories beneath take the project id). The owner of the file, or CAP_FOWNER.
int CLinuxShims_set_project(int fd, uint32_t project, int inherit);
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
