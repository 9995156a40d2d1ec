#ifndef SANDCASTLE_CVTERM_SHIM_H
#define SANDCASTLE_CVTERM_SHIM_H

#include <vterm.h>

#endif
