// larder_fault_shim: an LD_PRELOAD library that counts, and on demand fails, the calls
// that put a store's bytes on disk. The fault-injection tests build it with the C
// compiler at test time (it is no package target: nothing links it) and preload it
// into LarderFaultWriter.
//
// Calls covered: write, pwrite, pwrite64, writev, pwritev, pwritev64, pwritev2, fsync,
// fdatasync, ftruncate, ftruncate64 (on a descriptor) and msync (on a mapping), when
// the file is LARDER_FAULT_DIR or lies under it (resolved through /proc/self/fd and
// /proc/self/maps). strace of the three durability modes shows LMDB using pwrite,
// writev and fdatasync on data.mdb and ftruncate on lock.mdb, the journal pwrite,
// fdatasync and fsync (the directory too), the directory lock ftruncate and pwrite;
// the rest are covered in case a build or a flag uses them.
//
// Environment:
//   LARDER_FAULT_DIR    the store directory (required; nothing is counted without it)
//   LARDER_FAULT_LOG    a file (outside the directory) that gets one line per covered
//                       call, "<n> <call> <path under the directory>", and " FAILED <errno>"
//                       on the one that was failed
//   LARDER_FAULT_AT     the covered call to fail, counting from 1 (0 or unset: count only)
//   LARDER_FAULT_ERRNO  EIO or ENOSPC (default EIO)
//   LARDER_FAULT_STICKY 1: every covered call from LARDER_FAULT_AT on fails too (a disk
//                       that stays full or broken); 0 or unset: that one call only
// A bad value stops the process at load with a message on stderr and exit status 97.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static char fault_dir[PATH_MAX];
static size_t fault_dir_length;
static int log_fd = -1;
static unsigned long fail_at;
static int fail_errno = EIO;
static int sticky;
static unsigned long calls;  // updated atomically: the store writes from several threads

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_msync)(void *, size_t, int);

static void die(const char *message, const char *value) {
    fprintf(stderr, "larder_fault_shim: %s (got \"%s\")\n", message, value ? value : "");
    _exit(97);
}

static void *next(const char *name) {
    void *symbol = dlsym(RTLD_NEXT, name);
    if (!symbol) die("cannot find the C library's function", name);
    return symbol;
}

// POSIX's way to store dlsym's object pointer in a function pointer.
#define RESOLVE(pointer, name) (*(void **)(&(pointer)) = next(name))

__attribute__((constructor)) static void shim_init(void) {
    RESOLVE(real_write, "write");
    RESOLVE(real_pwrite, "pwrite");
    RESOLVE(real_pwrite64, "pwrite64");
    RESOLVE(real_writev, "writev");
    RESOLVE(real_pwritev, "pwritev");
    RESOLVE(real_pwritev64, "pwritev64");
    RESOLVE(real_pwritev2, "pwritev2");
    RESOLVE(real_fsync, "fsync");
    RESOLVE(real_fdatasync, "fdatasync");
    RESOLVE(real_ftruncate, "ftruncate");
    RESOLVE(real_ftruncate64, "ftruncate64");
    RESOLVE(real_msync, "msync");

    const char *dir = getenv("LARDER_FAULT_DIR");
    if (!dir || !*dir) return;
    // The directory as /proc/self/fd shows paths: absolute, symlinks resolved.
    if (!realpath(dir, fault_dir)) die("LARDER_FAULT_DIR must name an existing directory", dir);
    fault_dir_length = strlen(fault_dir);

    const char *at = getenv("LARDER_FAULT_AT");
    if (at && *at) {
        char *end;
        errno = 0;
        fail_at = strtoul(at, &end, 10);
        if (errno || *end || *at == '-') die("LARDER_FAULT_AT must be a call number (1, 2, ...) or 0", at);
    }
    const char *name = getenv("LARDER_FAULT_ERRNO");
    if (name && *name) {
        if (strcmp(name, "EIO") == 0) fail_errno = EIO;
        else if (strcmp(name, "ENOSPC") == 0) fail_errno = ENOSPC;
        else die("LARDER_FAULT_ERRNO must be EIO or ENOSPC", name);
    }
    const char *stay = getenv("LARDER_FAULT_STICKY");
    if (stay && *stay) {
        if (strcmp(stay, "0") != 0 && strcmp(stay, "1") != 0) die("LARDER_FAULT_STICKY must be 0 or 1", stay);
        sticky = stay[0] == '1';
    }
    const char *log = getenv("LARDER_FAULT_LOG");
    if (log && *log) {
        log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log_fd < 0) die("cannot open LARDER_FAULT_LOG for appending", log);
    }
}

/// The part of `path` under the directory ("." for the directory itself), or NULL.
static const char *under_dir(const char *path) {
    if (!fault_dir_length || strncmp(path, fault_dir, fault_dir_length) != 0) return NULL;
    if (path[fault_dir_length] == '\0') return ".";
    if (path[fault_dir_length] != '/') return NULL;
    return path + fault_dir_length + 1;
}

static int fd_path(int fd, char *path, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, size - 1);
    if (n < 0) return -1;
    path[n] = '\0';
    return 0;
}

/// The file mapped at `address` (from /proc/self/maps), for msync.
static int mapping_path(const void *address, char *path, size_t size) {
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return -1;
    char line[PATH_MAX + 128];
    int found = -1;
    while (fgets(line, sizeof line, maps)) {
        uintptr_t start, end;
        int name_at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name_at) < 2 || !name_at) continue;
        if ((uintptr_t)address < start || (uintptr_t)address >= end) continue;
        snprintf(path, size, "%s", line + name_at);
        path[strcspn(path, "\n")] = '\0';
        found = 0;
        break;
    }
    fclose(maps);
    return found;
}

/// Counts a call on `path` when it is the store's; returns the errno to fail it with, or 0.
static int covered(const char *call, const char *path) {
    const char *name = under_dir(path);
    if (!name) return 0;
    unsigned long n = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
    int failing = fail_at != 0 && (n == fail_at || (sticky && n > fail_at));
    if (log_fd >= 0) {
        char line[PATH_MAX + 96];
        int length = failing
            ? snprintf(line, sizeof line, "%lu %s %s FAILED %s\n", n, call, name, fail_errno == EIO ? "EIO" : "ENOSPC")
            : snprintf(line, sizeof line, "%lu %s %s\n", n, call, name);
        if (length > (int)sizeof line - 1) length = (int)sizeof line - 1;
        // One write per line, O_APPEND: lines from several threads do not interleave.
        if (real_write(log_fd, line, (size_t)length) != length) die("cannot write LARDER_FAULT_LOG", "");
    }
    return failing ? fail_errno : 0;
}

static int covered_fd(const char *call, int fd) {
    char path[PATH_MAX];
    if (!fault_dir_length || fd_path(fd, path, sizeof path) != 0) return 0;
    return covered(call, path);
}

#define FAIL_IF_COVERED(call, fd)                       \
    do {                                                \
        int injected = covered_fd(call, fd);            \
        if (injected) { errno = injected; return -1; }  \
    } while (0)

ssize_t write(int fd, const void *buffer, size_t count) {
    FAIL_IF_COVERED("write", fd);
    return real_write(fd, buffer, count);
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    FAIL_IF_COVERED("pwrite", fd);
    return real_pwrite(fd, buffer, count, offset);
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) {
    FAIL_IF_COVERED("pwrite", fd);
    return real_pwrite64(fd, buffer, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
    FAIL_IF_COVERED("writev", fd);
    return real_writev(fd, iov, count);
}

ssize_t pwritev(int fd, const struct iovec *iov, int count, off_t offset) {
    FAIL_IF_COVERED("pwritev", fd);
    return real_pwritev(fd, iov, count, offset);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int count, off_t offset) {
    FAIL_IF_COVERED("pwritev", fd);
    return real_pwritev64(fd, iov, count, offset);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int count, off_t offset, int flags) {
    FAIL_IF_COVERED("pwritev", fd);
    return real_pwritev2(fd, iov, count, offset, flags);
}

int fsync(int fd) {
    FAIL_IF_COVERED("fsync", fd);
    return real_fsync(fd);
}

int fdatasync(int fd) {
    FAIL_IF_COVERED("fdatasync", fd);
    return real_fdatasync(fd);
}

int ftruncate(int fd, off_t length) {
    FAIL_IF_COVERED("ftruncate", fd);
    return real_ftruncate(fd, length);
}

int ftruncate64(int fd, off_t length) {
    FAIL_IF_COVERED("ftruncate", fd);
    return real_ftruncate64(fd, length);
}

int msync(void *address, size_t length, int flags) {
    char path[PATH_MAX];
    if (fault_dir_length && mapping_path(address, path, sizeof path) == 0) {
        int injected = covered("msync", path);
        if (injected) { errno = injected; return -1; }
    }
    return real_msync(address, length, flags);
}
