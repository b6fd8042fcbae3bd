#define _GNU_SOURCE
#include "CDeltaSys.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/inotify.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

int cdeltasys_syncfs(int fd) { return syncfs(fd); }

int cdeltasys_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

int cdeltasys_open_tmpfile(const char *directory, mode_t mode) {
    return open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
}

/// Whether linkat(fd, "", AT_EMPTY_PATH) is tried first: cleared once the kernel refused it for a
/// descriptor the /proc way then linked (a kernel before 6.10 without CAP_DAC_READ_SEARCH).
static _Atomic int link_fd_empty_path = 1;

static int link_fd_by_proc(int fd, int dirfd, const char *target) {
    char source[32];
    snprintf(source, sizeof source, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, source, dirfd, target, AT_SYMLINK_FOLLOW);
}

int cdeltasys_link_fd_at(int fd, int dirfd, const char *target) {
    if (!link_fd_empty_path) return link_fd_by_proc(fd, dirfd, target);
    if (linkat(fd, "", dirfd, target, AT_EMPTY_PATH) == 0) return 0;
    int code = errno;
    // ENOENT is both a missing directory of `target` and a kernel's refusal of the empty path
    // (EPERM, EINVAL from others): the /proc way tells them apart.
    if (code != ENOENT && code != EPERM && code != EINVAL) return -1;
    int result = link_fd_by_proc(fd, dirfd, target);
    if (result == 0 || errno != ENOENT) link_fd_empty_path = 0;
    return result;
}

int cdeltasys_link_fd(int fd, const char *target) { return cdeltasys_link_fd_at(fd, AT_FDCWD, target); }

void cdeltasys_link_fd_set_empty_path(int enabled) { link_fd_empty_path = enabled != 0; }

int cdeltasys_link_fd_empty_path(void) { return link_fd_empty_path; }

int cdeltasys_copy_file(int in_fd, int out_fd, long long count) {
    while (count > 0) {
        ssize_t n = copy_file_range(in_fd, NULL, out_fd, NULL, (size_t)count, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) {
                char buf[1 << 16];
                while (count > 0) {
                    ssize_t r = read(in_fd, buf, count < (long long)sizeof buf ? (size_t)count : sizeof buf);
                    if (r < 0) { if (errno == EINTR) continue; return -1; }
                    if (r == 0) { errno = EIO; return -1; }
                    ssize_t off = 0;
                    while (off < r) {
                        ssize_t w = write(out_fd, buf + off, (size_t)(r - off));
                        if (w < 0) { if (errno == EINTR) continue; return -1; }
                        off += w;
                    }
                    count -= r;
                }
                return 0;
            }
            return -1;
        }
        if (n == 0) { errno = EIO; return -1; }
        count -= n;
    }
    return 0;
}

int cdeltasys_inflate_init(z_stream *stream) { return inflateInit2(stream, 15 + 16); }

int cdeltasys_deflate_init(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

void cdeltasys_exit_now(int code) { _exit(code); }

int cdeltasys_inotify_init(void) { return inotify_init1(IN_NONBLOCK | IN_CLOEXEC); }

int cdeltasys_inotify_add_watch(int fd, const char *path, unsigned int mask) { return inotify_add_watch(fd, path, mask); }

int cdeltasys_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int cdeltasys_pending_bytes(int fd) {
    int count = 0;
    if (ioctl(fd, FIONREAD, &count) != 0) return -1;
    return count;
}

long cdeltasys_raise_descriptor_limit(void) {
    struct rlimit limits;
    if (getrlimit(RLIMIT_NOFILE, &limits) != 0) return -1;
    rlim_t wanted = limits.rlim_max == RLIM_INFINITY || limits.rlim_max > 1048576 ? 1048576 : limits.rlim_max;
    if (limits.rlim_cur < wanted) {
        limits.rlim_cur = wanted;
        if (setrlimit(RLIMIT_NOFILE, &limits) != 0) return -1;
    }
    if (getrlimit(RLIMIT_NOFILE, &limits) != 0) return -1;
    return (long)limits.rlim_cur;
}

int cdeltasys_limit_malloc_arenas(int count) {
#ifdef M_ARENA_MAX
    return mallopt(M_ARENA_MAX, count);
#else
    (void)count;
    return 0;
#endif
}

int cdeltasys_malloc_trim(void) { return malloc_trim(0); }

int cdeltasys_fix_mmap_threshold(int bytes) {
#ifdef M_MMAP_THRESHOLD
    return mallopt(M_MMAP_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

int cdeltasys_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *directory,
                    int stdin_fd, int stdout_fd, int stderr_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return result;
    }
    int sources[3] = {stdin_fd, stdout_fd, stderr_fd};
    for (int target = 0; target < 3 && result == 0; target++) {
        if (sources[target] >= 0) result = posix_spawn_file_actions_adddup2(&actions, sources[target], target);
    }
    if (result == 0 && directory != NULL) result = posix_spawn_file_actions_addchdir_np(&actions, directory);
    /* close_range(2) in the child: nothing but 0, 1 and 2 is inherited, CLOEXEC or not. */
    if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &all);
    if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &none);
    if (result == 0) result = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (result == 0) result = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}


int cdeltasys_set_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}

int cdeltasys_open_directory_path(int dirfd, const char *path) {
    return openat(dirfd, path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/// `deltasync watch` runs with one malloc arena, set before main: threads the Swift runtime starts
/// before the command runs would each have taken an arena of their own already, and an idle
/// watcher's arenas keep what its catch-up scan freed. MALLOC_ARENA_MAX in the environment wins.
__attribute__((constructor)) static void cdeltasys_watch_uses_one_arena(void) {
    if (getenv("MALLOC_ARENA_MAX") != NULL) return;
    FILE *file = fopen("/proc/self/cmdline", "r");
    if (file == NULL) return;
    char arguments[256];
    size_t count = fread(arguments, 1, sizeof(arguments) - 1, file);
    fclose(file);
    arguments[count] = '\0';
    size_t first = strnlen(arguments, count);  // argv[0]
    if (first + 1 < count && strcmp(arguments + first + 1, "watch") == 0) {
#ifdef M_ARENA_MAX
        mallopt(M_ARENA_MAX, 1);
#endif
    }
}

int cdeltasys_permissions(const char *path) {
    struct stat info;
    if (stat(path, &info) != 0) return -1;
    return (int)(info.st_mode & 07777);
}

int cdeltasys_start_writeback(int fd) { return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); }

#include <sys/mman.h>

long long cdeltasys_drop_code_pages(void) {
#ifdef __linux__
    FILE *smaps = fopen("/proc/self/smaps", "re");
    if (!smaps) return -1;
    enum { capacity = 4096 };
    unsigned long *starts = malloc(2 * capacity * sizeof(unsigned long));
    if (!starts) {
        fclose(smaps);
        return -1;
    }
    unsigned long *ends = starts + capacity;
    int count = 0;
    unsigned long start = 0, end = 0;
    int candidate = 0, clean = 1;
    char *line = NULL;
    size_t size = 0;
    // A mapping's block: its header line, then "Key: value kB" lines. It is dropped when it is
    // a read-only executable mapping of a file (r-xp, a path) that holds no page of its own:
    // every resident page is then the file's, and comes back from the page cache on next use.
    // A mapping with private copies (relocated, or written by a debugger) is never touched.
    while (getline(&line, &size, smaps) >= 0) {
        unsigned long a, b;
        char perms[5];
        int path = 0;
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &a, &b, perms, &path) == 3) {
            if (candidate && clean && count < capacity) {
                starts[count] = start;
                ends[count] = end;
                count++;
            }
            start = a;
            end = b;
            candidate = strcmp(perms, "r-xp") == 0 && path > 0 && line[path] == '/';
            clean = 1;
        } else if (strncmp(line, "Anonymous:", 10) == 0 || strncmp(line, "Locked:", 7) == 0
                   || strncmp(line, "Swap:", 5) == 0) {
            const char *value = strchr(line, ':') + 1;
            if (strtoull(value, NULL, 10) != 0) clean = 0;
        }
    }
    if (candidate && clean && count < capacity) {
        starts[count] = start;
        ends[count] = end;
        count++;
    }
    free(line);
    fclose(smaps);
    long long dropped = 0;
    for (int i = 0; i < count; i++) {
        if (madvise((void *)starts[i], ends[i] - starts[i], MADV_DONTNEED) == 0) {
            dropped += (long long)(ends[i] - starts[i]);
        }
    }
    free(starts);
    return dropped;
#else
    return 0;
#endif
}
