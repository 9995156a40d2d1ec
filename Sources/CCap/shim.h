#ifndef SANDCASTLE_CCAP_SHIM_H
#define SANDCASTLE_CCAP_SHIM_H

#if defined(__linux__)
#include <sys/capability.h>
#include <sys/prctl.h>

// prctl is variadic; these wrappers fix the arguments of the calls the daemon makes.
static inline int sc_prctl_capbset_drop(int cap) { return prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); }
static inline int sc_prctl_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
static inline int sc_prctl_capbset_read(int cap) { return prctl(PR_CAPBSET_READ, cap, 0, 0, 0); }
#endif

#endif
