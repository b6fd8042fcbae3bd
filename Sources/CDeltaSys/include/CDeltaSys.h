#ifndef CDELTASYS_H
#define CDELTASYS_H

#include <zlib.h>
#include <stddef.h>
#include <sys/types.h>

/// syncfs(2): flush the filesystem holding `fd` once per bundle instead of one fsync per file.
int cdeltasys_syncfs(int fd);

/// renameat2(2) with flags (RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2).
int cdeltasys_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

/// copy_file_range(2) loop: copies `count` bytes from `in_fd` to `out_fd`; returns 0 or -1 with errno set.
int cdeltasys_copy_file(int in_fd, int out_fd, long long count);

/// zlib's inflateInit2 / deflateInit2 are macros, invisible to Swift.
int cdeltasys_inflate_init(z_stream *stream);
int cdeltasys_deflate_init(z_stream *stream, int level);

/// Makes the current process exit at once, without running atexit handlers (named failpoints).
void cdeltasys_exit_now(int code);

#endif
