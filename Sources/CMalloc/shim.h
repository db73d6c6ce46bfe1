// glibc's allocator statistics and trim (mallinfo2, malloc_trim), which the
// Glibc module does not export. Seen only by Monitoring's ProcessMemory.
#if defined(__linux__) && __has_include(<malloc.h>)
#include <malloc.h>
#endif
