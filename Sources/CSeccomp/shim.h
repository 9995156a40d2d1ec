#ifndef SANDCASTLE_CSECCOMP_SHIM_H
#define SANDCASTLE_CSECCOMP_SHIM_H

#if defined(__linux__)
#include <seccomp.h>
#include <errno.h>
#include <unistd.h>

// The action and architecture constants are function-like or composite macros that Swift cannot
// import; each wrapper returns the value the macro expands to.
static inline uint32_t sc_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
static inline uint32_t sc_scmp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t sc_scmp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline uint32_t sc_scmp_act_log(void) { return SCMP_ACT_LOG; }
static inline uint32_t sc_scmp_act_kill_thread(void) { return SCMP_ACT_KILL_THREAD; }
static inline uint32_t sc_scmp_act_trap(void) { return SCMP_ACT_TRAP; }
static inline uint32_t sc_scmp_arch_x86_64(void) { return SCMP_ARCH_X86_64; }
static inline uint32_t sc_scmp_arch_aarch64(void) { return SCMP_ARCH_AARCH64; }
static inline uint32_t sc_scmp_arch_x86(void) { return SCMP_ARCH_X86; }
static inline uint32_t sc_scmp_arch_x32(void) { return SCMP_ARCH_X32; }
static inline uint32_t sc_scmp_arch_arm(void) { return SCMP_ARCH_ARM; }
static inline uint32_t sc_scmp_arch_native(void) { return SCMP_ARCH_NATIVE; }

// seccomp_rule_add is variadic; the array form takes the argument comparisons as a pointer.
static inline int sc_seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                                            unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array) {
    return seccomp_rule_add_array(ctx, action, syscall, arg_cnt, arg_array);
}

// syscall(2) is variadic: a system call by number with four arguments, to probe a loaded filter
// with calls glibc has no wrapper for (keyctl, userfaultfd) or declares variadic (ptrace).
static inline long sc_syscall4(long number, long a, long b, long c, long d) {
    return syscall(number, a, b, c, d);
}
#endif

#endif
