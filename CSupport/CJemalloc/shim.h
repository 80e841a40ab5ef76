#ifndef LARDER_CJEMALLOC_SHIM_H
#define LARDER_CJEMALLOC_SHIM_H
// Debian's libjemalloc-dev builds jemalloc without a symbol prefix: `mallctl`,
// `malloc_usable_size` and `malloc` itself are jemalloc's once this is linked.
#include <jemalloc/jemalloc.h>
#endif
