#ifndef CDELTASYS_H
#define CDELTASYS_H

#include <zlib.h>
#include <stddef.h>
#include <sys/types.h>

/// syncfs(2): flush the filesystem holding `fd` once per bundle instead of one fsync per file.
int cdeltasys_syncfs(int fd);

/// renameat2(2) with flags (RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2).
int cdeltasys_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

/// open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, mode): a file with no name on the filesystem
/// of `directory`, gone when its last descriptor closes unless `cdeltasys_link_fd` names it first.
/// Returns the descriptor, or -1 with errno (EOPNOTSUPP, EISDIR or EINVAL where the filesystem or
/// kernel has no O_TMPFILE).
int cdeltasys_open_tmpfile(const char *directory, mode_t mode);

/// Gives the file open on `fd` the name `target`: linkat(fd, "", AT_EMPTY_PATH), which Linux 6.10
/// and later allow the opener of the file; where the kernel refuses it, linkat of
/// /proc/self/fd/N with AT_SYMLINK_FOLLOW (the way that needs no privilege on any kernel), from
/// then on. 0, or -1 with errno: EEXIST when `target` exists (it is never replaced), ENOENT when a
/// directory of `target` is missing.
int cdeltasys_link_fd(int fd, const char *target);

/// `cdeltasys_link_fd` with `target` relative to the directory open on `dirfd` (AT_FDCWD: the
/// working directory).
int cdeltasys_link_fd_at(int fd, int dirfd, const char *target);

/// Tests: whether `cdeltasys_link_fd` tries the empty path first (1) or only the /proc way (0).
void cdeltasys_link_fd_set_empty_path(int enabled);
int cdeltasys_link_fd_empty_path(void);

/// copy_file_range(2) loop: copies `count` bytes from `in_fd` to `out_fd`; returns 0 or -1 with errno set.
int cdeltasys_copy_file(int in_fd, int out_fd, long long count);

/// zlib's inflateInit2 / deflateInit2 are macros, invisible to Swift.
int cdeltasys_inflate_init(z_stream *stream);
int cdeltasys_deflate_init(z_stream *stream, int level);

/// inotify_init1(IN_NONBLOCK | IN_CLOEXEC); -1 with errno on failure.
int cdeltasys_inotify_init(void);

/// inotify_add_watch; returns the watch descriptor or -1 with errno (ENOSPC: watch limit reached).
int cdeltasys_inotify_add_watch(int fd, const char *path, unsigned int mask);

/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), used to wake the watcher thread.
int cdeltasys_eventfd(void);

/// Bytes waiting to be read on `fd` (FIONREAD), or -1.
int cdeltasys_pending_bytes(int fd);

/// Caps glibc's malloc arenas (mallopt M_ARENA_MAX); returns 1 on success. The server's blocking
/// work moves between pool threads, and each thread otherwise gets its own arena, whose
/// fragmentation adds tens of MiB of resident memory.
int cdeltasys_limit_malloc_arenas(int count);

/// Raises the soft RLIMIT_NOFILE to the hard one (at most 1,048,576); returns the soft limit now
/// in force, or -1. The server's upload spool holds a descriptor per file of a bundle in flight.
long cdeltasys_raise_descriptor_limit(void);

/// Fixes glibc's mmap threshold (mallopt M_MMAP_THRESHOLD) at `bytes`; returns 1 on success.
/// Left to itself glibc raises the threshold to the largest block freed so far (up to 32 MiB),
/// after which multi-megabyte arrays come from the heap and leave it fragmented when freed; with
/// it fixed they are mapped and unmapped, and their pages go back to the kernel at once.
int cdeltasys_fix_mmap_threshold(int bytes);

/// malloc_trim(0): hands freed heap pages back to the kernel; returns 1 if any were released.
int cdeltasys_malloc_trim(void);

/// Unmaps the resident pages of the process's read-only executable file mappings (r-xp, with no
/// private copy of any page) with MADV_DONTNEED: they stay in the page cache, shared, and fault
/// back in on next use. A long-running process's start-up code then stops counting in its RSS.
/// Returns the bytes of address space advised, or -1 if /proc/self/smaps cannot be read.
long long cdeltasys_drop_code_pages(void);

/// posix_spawn(3) of `path` with stdin, stdout and stderr taken from the given descriptors (-1:
/// inherited), in `directory` (NULL: this one), with every other descriptor closed in the child
/// (close_range), all signals at their default disposition and none blocked. Returns 0 or an
/// errno value. Tests launch their children with this instead of Foundation's Process, whose
/// run() lists /proc/self/fd and reads past glibc's directory buffer (swift-corelibs-foundation
/// #5472), crashing a test process that holds many descriptors.
int cdeltasys_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *directory,
                    int stdin_fd, int stdout_fd, int stderr_fd);

/// Sets the calling thread's nice value (Linux schedules threads, not processes): background
/// work on a thread of its own yields the CPU to the rest of the process under load.
int cdeltasys_set_thread_nice(int nice);

/// openat(dirfd, path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC): a handle to stat a
/// directory and the names in it, without reading it; -1 with errno on failure.
int cdeltasys_open_directory_path(int dirfd, const char *path);

/// The permission bits of `path` (stat(2), following links), or -1 with errno.
int cdeltasys_permissions(const char *path);

/// sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE): starts writing the file's dirty pages out
/// now, without waiting, so the flush that makes a bundle durable finds little left to write.
int cdeltasys_start_writeback(int fd);

/// Makes the current process exit at once, without running atexit handlers (named failpoints).
void cdeltasys_exit_now(int code);

#endif
