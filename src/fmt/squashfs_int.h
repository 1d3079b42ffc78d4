/* What the squashfs writer's files share (squashfs.c: create, data,
 * read-back; squashfs_lib.c: libsquashfs's file and compressor objects of
 * our own; squashfs_meta.c: inodes, directories, tables, finish). Not for
 * use outside src/fmt/squashfs*.c. */
#ifndef MKL_SQUASHFS_INT_H
#define MKL_SQUASHFS_INT_H

#include "fmt/squashfs.h"
#include "fmt/verity.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <lzma.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_writer.h>

#define NO_XATTR 0xFFFFFFFFu
#define PAD_SIZE 4096u
#define DEFAULT_BLOCK_SIZE 131072u
/* Upper bound for the memory the block processor may hold in flight. */
#define MAX_BACKLOG_BYTES (256u << 20)

/* a sqfs_file_t over a caller's fd (squashfs_lib.c) */
struct fd_file {
	sqfs_file_t base;
	int fd;
	uint64_t at;		/* where the image starts in fd */
	uint64_t size;
	int error;		/* errno of the last failed system call */
	struct mkl_verity *verity;	/* NULL, or told every write (verity.h) */
	struct mkl_err verr;	/* its error, when it failed */
};

struct fd_file *mkl_sq_file_create(int fd, uint64_t at);
/* The image's compressor (uncompress: the one that reads it back); level:
 * what the user asked for, 0 for the default. */
int mkl_sq_compressor(const sqfs_compressor_config_t *cfg, bool uncompress, int level,
		      sqfs_compressor_t **out);

/* ---- the writer -------------------------------------------------------- */

/* Where one regular file's data went. The block processor keeps a pointer
 * to `inode` and may reallocate it until it is finished, so a record never
 * moves; records are owned by struct mkl_sqfs. */
struct file_rec {
	struct file_rec *next;
	sqfs_inode_generic_t *inode;
};

enum sq_state { SQ_OPEN, SQ_FINISHED, SQ_FAILED };

/* Compressing ahead (squashfs_ahead.c): what the memo compressor, which
 * wraps the image's and is copied to every worker, reads. ready is set
 * once, when the thread that made the blocks has stopped. */
struct sq_ahead;
struct sq_memo_cell {
	const struct sq_ahead *_Atomic ready;
	_Atomic uint64_t hits;	/* blocks taken from the memo */
	bool added;		/* a file was added: too late to start */
};

/* Wrap *cmp in the memo compressor reading cell (SQFS_ERROR_ALLOC). */
int mkl_sq_memo_wrap(sqfs_compressor_t **cmp, struct sq_memo_cell *cell);
/* For tests: wait until the thread has walked the whole directory once
 * after the call (or has ended). */
void mkl_sq_ahead_wait_walk(struct mkl_sqfs *sq);
/* Stop and free the thread and the memo (at destroy, after the workers). */
void mkl_sq_ahead_destroy(struct mkl_sqfs *sq);

struct mkl_sqfs {
	struct fd_file *file;
	sqfs_compressor_config_t cfg;
	sqfs_compressor_t *cmp;
	sqfs_compressor_t *uncmp;
	sqfs_block_writer_t *bw;
	sqfs_frag_table_t *frags;
	sqfs_block_processor_t *proc;
	sqfs_id_table_t *ids;
	sqfs_xattr_writer_t *xwr;
	sqfs_meta_writer_t *im, *dm;
	sqfs_dir_writer_t *dirw;
	sqfs_data_reader_t *reader;
	sqfs_super_t super;
	const char *comp_name;
	uint32_t block_size;
	unsigned char *buf;	/* block_size bytes */
	struct file_rec *recs;
	enum sq_state state;
	struct sq_memo_cell memo;
	struct sq_ahead *ahead;
	bool has_verity;
	struct mkl_verity_result vres;	/* after finish, with has_verity */

	/* finish: inode numbers 1..ninodes, their references and whether
	 * they have been written yet */
	uint32_t ninodes;
	uint64_t *refs;
	bool *written;
};

/* Errors (squashfs.c): a libsquashfs code (with the file's errno for an
 * I/O error), the same naming a node, or an errno naming a node. -1. */
int sq_fail(struct mkl_sqfs *sq, struct mkl_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int node_fail(struct mkl_sqfs *sq, struct mkl_err *err, int code, const char *what,
	      const struct mkl_node *node);
int node_error(struct mkl_err *err, int errnum, const char *what, const struct mkl_node *node);

#endif
