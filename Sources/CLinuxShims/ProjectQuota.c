#if defined(__linux__)
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <linux/dqblk_xfs.h>

#include "CLinuxShims.h"

// quotactl_fd(2) (Linux 5.14) has no glibc wrapper in Debian 12. It takes a descriptor of any file
// on the file system instead of the block device's path, which a daemon with PrivateDevices= has
// no node for.
#ifndef __NR_quotactl_fd
#define __NR_quotactl_fd 443
#endif

static int quotactl_fd_call(int fd, unsigned int cmd, unsigned int id, void *addr) {
    long result = syscall(__NR_quotactl_fd, fd, cmd, id, addr);
    return result < 0 ? -errno : 0;
}

int CLinuxShims_project_quota_state(int fd) {
    // Q_XGETQSTATV, not Q_GETINFO: ext4 made with the quota feature accounts project usage even
    // when mounted without prjquota, and only this call tells accounting from enforcement.
    struct fs_quota_statv state;
    memset(&state, 0, sizeof state);
    state.qs_version = FS_QSTATV_VERSION1;
    int result = quotactl_fd_call(fd, QCMD(Q_XGETQSTATV, PRJQUOTA), 0, &state);
    if (result != 0) return result;
    return (state.qs_flags & FS_QUOTA_PDQ_ENFD) ? 0 : -ESRCH;
}

int CLinuxShims_project_quota_get(int fd, uint32_t project, CLinuxShims_project_quota *out) {
    struct if_dqblk block;
    memset(&block, 0, sizeof block);
    int result = quotactl_fd_call(fd, QCMD(Q_GETQUOTA, PRJQUOTA), project, &block);
    if (result != 0) return result;
    out->block_limit_bytes = block.dqb_bhardlimit * QIF_DQBLKSIZE;
    out->used_bytes = block.dqb_curspace;
    out->inode_limit = block.dqb_ihardlimit;
    out->used_inodes = block.dqb_curinodes;
    return 0;
}

int CLinuxShims_project_quota_set(int fd, uint32_t project, uint64_t block_limit_bytes, uint64_t inode_limit) {
    struct if_dqblk block;
    memset(&block, 0, sizeof block);
    // In QIF_DQBLKSIZE (1 KiB) units, rounded up; 0 is no limit.
    block.dqb_bhardlimit = (block_limit_bytes + QIF_DQBLKSIZE - 1) / QIF_DQBLKSIZE;
    block.dqb_bsoftlimit = block.dqb_bhardlimit;
    block.dqb_ihardlimit = inode_limit;
    block.dqb_isoftlimit = inode_limit;
    block.dqb_valid = QIF_LIMITS;
    return quotactl_fd_call(fd, QCMD(Q_SETQUOTA, PRJQUOTA), project, &block);
}

long CLinuxShims_file_system_magic(int fd) {
    struct statfs info;
    if (fstatfs(fd, &info) != 0) return -1;
    return (long)info.f_type;
}

int CLinuxShims_get_project(int fd, uint32_t *project, uint32_t *flags) {
    struct fsxattr attributes;
    memset(&attributes, 0, sizeof attributes);
    if (ioctl(fd, FS_IOC_FSGETXATTR, &attributes) != 0) return -errno;
    *project = attributes.fsx_projid;
    *flags = attributes.fsx_xflags;
    return 0;
}

int CLinuxShims_set_project(int fd, uint32_t project, int inherit) {
    struct fsxattr attributes;
    memset(&attributes, 0, sizeof attributes);
    if (ioctl(fd, FS_IOC_FSGETXATTR, &attributes) != 0) return -errno;
    attributes.fsx_projid = project;
    if (inherit) attributes.fsx_xflags |= FS_XFLAG_PROJINHERIT;
    if (ioctl(fd, FS_IOC_FSSETXATTR, &attributes) != 0) return -errno;
    return 0;
}
#endif
