#ifndef CZEROMQ_SHIM_H
#define CZEROMQ_SHIM_H

#include <zmq.h>
#include <errno.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

// ZMQ-specific errno values are macros built from ZMQ_HAUSNUMERO; give Swift
// plain constants so they import reliably.
static const int czmq_ETERM = ETERM;
static const int czmq_EFSM = EFSM;
static const int czmq_ENOCOMPATPROTO = ENOCOMPATPROTO;
static const int czmq_EMTHREAD = EMTHREAD;

// eventfd(2) wrappers: the flags are macros that Swift may not see.
static inline int czmq_eventfd_create(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

static inline int czmq_eventfd_write(int fd) {
    uint64_t one = 1;
    return (int)write(fd, &one, sizeof one);
}

static inline int czmq_eventfd_read(int fd) {
    uint64_t value = 0;
    return (int)read(fd, &value, sizeof value);
}

// Names the calling thread (at most 15 bytes are kept); prctl is variadic,
// so Swift cannot call it directly.
static inline void czmq_set_thread_name(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

#endif
