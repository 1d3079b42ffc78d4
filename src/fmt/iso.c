/* ISO 9660 writer on libisofs (see iso.h).
 *
 * The image: ISO level 3 (files of 4 GiB and more become multi-extent),
 * Rock Ridge and Joliet. Every node is owned by 0:0; files have the mode
 * given (0444 when 0), directories 0555. Reproducibility: every node time,
 * the Rock Ridge and directory-record times (replace mode 2 with a default
 * timestamp) and the volume descriptor times (a fixed "uuid" derived from
 * opts->time) are opts->time, so libisofs reads no clock; the isohybrid MBR
 * disk signature, which libisofs derives from the clock, is replaced by one
 * derived from opts->time while the image is copied out.
 *
 * Label fields go in as given (relaxed volume attributes), so the medium ID
 * in the volume set id reads back byte for byte.
 *
 * El Torito: one no-emulation entry for opts->boot_image, load size 4
 * sectors, boot info table patched (isolinux wants it). With a floppy image
 * (legacy), the default entry emulates a 1.44 MB floppy from it and the
 * isolinux entry comes second. The boot catalog is
 * a visible file at opts->boot_catalog, as mkisofs and xorriso leave it.
 * With an MBR template, libisofs makes the isohybrid MBR (partition 1,
 * active, from sector 0 over the whole image) and pads the image to a whole
 * cylinder (1 MiB).
 *
 * Files come from memory (copied) or from an fd, both through the stream
 * class of isolib.c (the source is below); fds are read with pread so
 * libisofs may read a stream more than once (it does for the boot image); nothing is copied to
 * a temporary file. Memory files use our class too, not
 * iso_memory_stream_new(), so every stream id is fixed (file index + 1)
 * rather than drawn from libisofs's global serial counter. For an fd that
 * is a regular file, the whole file is taken and .size is not used.
 *
 * The checksum list (opts->sums_path) and a placed file (.placed: bytes
 * already in out_fd, laid out where they are and not written again) are
 * described at struct sumrec and find_place below, and in
 * docs/ARCHITECTURE.md, "One pass".
 *
 * Rock Ridge is written as RRIP 1.10, whose PX entries carry no inode
 * number: libisofs 1.5.4 numbers inodes in an order that changes from run
 * to run, which made two writes of the same tree differ. Readers (Linux,
 * xorriso, libarchive) then number inodes by directory record position.
 *
 * libisofs keeps global state: iso_init() runs once per process and is never
 * undone; its messages are queued (never printed) and drained after each
 * write, the last serious one kept for our error message.
 */
#include "fmt/iso.h"
#include "fmt/digest.h"
#include "fmt/isolib.h"
#include "fmt/iso_int.h"
#include "tree/io.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SYSTEM_AREA 32768


/* --- labels --- */

int mkl_iso_check_label(const char *label, struct mkl_err *err)
{
	size_t n, i;

	if (!label)
		return mkl_error(err, EINVAL, "no volume label given");
	n = strlen(label);
	for (i = 0; i < n; i++) {
		char c = label[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			break;
	}
	if (n == 0 || n > 32 || i < n)
		return mkl_error(err, EINVAL, "invalid volume label '%s': use 1 to 32 characters "
				 "of A-Z, 0-9, '_' and '-' (ISO 9660 d-characters and '-'; "
				 "no lowercase, no spaces)", label);
	return 0;
}

static int check_text(const char *what, const char *s, size_t max, struct mkl_err *err)
{
	size_t i;

	if (!s)
		return 0;
	if (strlen(s) > max)
		return mkl_error(err, EINVAL, "invalid %s '%s': longer than %zu characters", what,
				 s, max);
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return mkl_error(err, EINVAL, "invalid %s '%s': only printable ASCII "
					 "is allowed", what, s);
	return 0;
}

/* --- file content: memory, or an open fd read with pread --- */

#define FS_ID 0x6d6b6c76u	/* "mklv": our streams' file system id */

/* The padding before a placed file. */
static int zero_read(void *data, uint64_t pos, void *buf, size_t count)
{
	memset(buf, 0, count);
	return (int)count;
}

static const struct mkl_isolib_source zero_source = {
	.read = zero_read,
};

#define PAD_NAME "MKLIVE.PAD"

struct fd_source {
	int fd;
	unsigned char *mem;	/* our copy of a memory file, or NULL: read fd */
	uint64_t at;		/* a placed file: where it starts in fd (0: fd is the file) */
	uint64_t size;
	/* Bytes really read: all but for a placed file whose sum is given,
	 * whose rest libisofs gets as its buffer holds it (out_chunk neither
	 * writes nor looks at it). */
	uint64_t readable;
	struct sumrec *sum;	/* NULL: not in the checksums */
};

static int fds_open(void *data)
{
	struct fd_source *f = data;
	struct stat st;

	if (f->mem || f->at)
		return 1;
	if (fstat(f->fd, &st) < 0)
		return (int)ISO_FILE_ERROR;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size != f->size)
		return (uint64_t)st.st_size > f->size ? 2 : 3;	/* libisofs pads or truncates */
	return 1;
}

static int fds_read(void *data, uint64_t pos, void *buf, size_t count)
{
	struct fd_source *f = data;
	struct mkl_err ignored;	/* libisofs takes a code, not a message */
	size_t done;
	ssize_t n;

	if (f->mem) {
		memcpy(buf, f->mem + pos, count);
		done = count;
	} else if (pos >= f->readable) {
		done = count;
	} else {
		/* Fewer bytes than asked: the file shrank, libisofs pads with zeros. */
		if (count > f->readable - pos)
			count = (size_t)(f->readable - pos);
		n = mkl_pread_full(f->fd, buf, count, f->at + pos, "a file", &ignored);
		if (n < 0)
			return (int)ISO_FILE_READ_ERROR;
		done = (size_t)n;
	}
	if (f->sum)
		mkl_isosum_feed(f->sum, pos, buf, done);
	return (int)done;
}

static void fds_release(void *data)
{
	struct fd_source *f = data;

	free(f->mem);
	free(f);
}

static const struct mkl_isolib_source fd_source = {
	.open = fds_open,
	.read = fds_read,
	.release = fds_release,
};

/* A stream over fd, or over mem (taken over: freed with the stream);
 * readable: see struct fd_source. */
static IsoStream *fd_stream_new(int fd, unsigned char *mem, uint64_t at, uint64_t size,
				uint64_t readable, ino_t ino, struct sumrec *sum, struct mkl_err *err)
{
	struct fd_source *f = mkl_calloc(1, sizeof(*f), err);

	if (!f) {
		free(mem);
		return NULL;
	}
	*f = (struct fd_source){ .fd = fd, .mem = mem, .at = at, .size = size, .readable = readable,
				 .sum = sum };
	if (sum) {
		sum->mem = mem;
		sum->fd = fd;
		sum->at = at;
		sum->size = size;
	}
	return mkl_isolib_stream(&fd_source, f, size, FS_ID, ino, err);
}

/* --- the tree --- */

static void set_node(IsoNode *node, mode_t perm, time_t t)
{
	iso_node_set_permissions(node, perm);
	iso_node_set_uid(node, 0);
	iso_node_set_gid(node, 0);
	iso_node_set_atime(node, t);
	iso_node_set_mtime(node, t);
	iso_node_set_ctime(node, t);
}

/* Add one file, making the directories on its path. Its content is f's,
 * hashed into sum (may be NULL), or given's (the checksum list: taken
 * over, last on the medium). Long (about 140 lines) because the four kinds
 * of content (the list, the file already placed in the output, memory, an
 * fd) each need their stream made before the one node that takes it, and
 * one unwind path frees what a failure leaves. */
static int add_file(IsoImage *image, const struct mkl_iso_file *f, size_t index, time_t t,
		    struct sumrec *sum, IsoStream *given, struct mkl_err *err)
{
	char *path, *name, *slash;
	IsoDir *dir = iso_image_get_root(image);
	IsoStream *stream = given;
	IsoFile *file;
	IsoNode *node;
	int ret;

	if (!f->path || !f->path[0]) {
		if (given)
			iso_stream_unref(given);
		return mkl_error(err, EINVAL, "file %zu of the ISO image has no path", index);
	}
	path = mkl_strdup(f->path, err);
	if (!path) {
		if (given)
			iso_stream_unref(given);
		return -1;
	}
	name = path;
	for (;;) {
		while (*name == '/')
			name++;
		slash = strchr(name, '/');
		if (slash)
			*slash = '\0';
		if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			mkl_error(err, EINVAL, "cannot add '%s' to the ISO image: bad path",
				  f->path);
			goto fail;
		}
		if (!slash)
			break;
		ret = iso_dir_get_node(dir, name, &node);
		if (ret < 0) {
			mkl_isolib_fail(err, ret, "cannot look up a directory in the ISO image");
			goto fail;
		}
		if (ret == 0) {
			IsoDir *sub;

			ret = iso_image_add_new_dir(image, dir, name, &sub);
			if (ret < 0) {
				mkl_isolib_fail(err, ret, "cannot add a directory to the ISO image");
				goto fail;
			}
			set_node((IsoNode *)sub, 0555, t);
			dir = sub;
		} else if (ISO_NODE_IS_DIR(node)) {
			dir = (IsoDir *)node;
		} else {
			mkl_error(err, EEXIST, "cannot add '%s' to the ISO image: '%s' is a file",
				  f->path, name);
			goto fail;
		}
		name = slash + 1;
	}
	ret = iso_dir_get_node(dir, name, &node);
	if (ret != 0) {
		mkl_error(err, EEXIST, "cannot add '%s' to the ISO image: the path is "
			  "already there", f->path);
		goto fail;
	}

	if (given) {
		/* the checksum list: made when libisofs opens it */
	} else if (f->mem) {
		unsigned char *copy;

		if ((uint64_t)(size_t)f->size != f->size) {
			mkl_error(err, EFBIG, "cannot add '%s' to the ISO image: too big for memory",
				  f->path);
			goto fail;
		}
		copy = mkl_malloc((size_t)f->size, err);
		if (!copy)
			goto fail;
		memcpy(copy, f->mem, (size_t)f->size);
		stream = fd_stream_new(-1, copy, 0, f->size, f->size, (ino_t)index + 1, sum, err);
		if (!stream)
			goto fail;
	} else if (f->placed) {
		/* Already in the output, where libisofs will put it. Hashed by
		 * out_chunk, on the pump's thread, while libisofs's thread reads
		 * ahead: the two share the work. With its sum given, only its
		 * first block is read (out_chunk checks the layout on it). */
		uint64_t readable = f->sha256 ? (f->size < 2048 ? f->size : 2048) : f->size;

		stream = fd_stream_new(f->fd, NULL, f->placed, f->size, readable, (ino_t)index + 1, NULL,
				       err);
		if (!stream)
			goto fail;
		if (sum) {
			sum->fd = f->fd;
			sum->at = f->placed;
			sum->size = f->size;
		}
	} else {
		struct stat st;
		uint64_t size = f->size;

		if (fstat(f->fd, &st) < 0) {
			mkl_error(err, errno, "cannot add '%s' to the ISO image: bad fd %d",
				  f->path, f->fd);
			goto fail;
		}
		if (S_ISREG(st.st_mode))
			size = (uint64_t)st.st_size;	/* "the whole of an open fd" */
		else if (!S_ISBLK(st.st_mode)) {
			mkl_error(err, EINVAL, "cannot add '%s' to the ISO image: fd %d is not "
				  "a regular file", f->path, f->fd);
			goto fail;
		}
		stream = fd_stream_new(f->fd, NULL, 0, size, size, (ino_t)index + 1, sum, err);
		if (!stream)
			goto fail;
	}
	/* The new file takes our reference to the stream. */
	ret = iso_image_add_new_file(image, dir, name, stream, &file);
	if (ret < 0) {
		iso_stream_unref(stream);
		stream = NULL;
		mkl_isolib_fail(err, ret, "cannot add a file to the ISO image");
		goto fail;
	}
	stream = NULL;
	set_node((IsoNode *)file, f->mode ? (f->mode & 07777) : 0444, t);
	if (f->first)	/* data of higher weights comes first */
		iso_node_set_sort_weight((IsoNode *)file, 1000);
	if (f->placed)	/* after the checksum list and the padding */
		iso_node_set_sort_weight((IsoNode *)file, 1500);
	else if (given)	/* the checksum list: first of all */
		iso_node_set_sort_weight((IsoNode *)file, 2000);
	free(path);
	return 0;
fail:
	if (given && stream == given)
		iso_stream_unref(given);
	free(path);
	return mkl_err_prefix(err, "adding '%s'", f->path);
}

/* "/" + path, as libisofs wants absolute paths for boot files. */
static char *abs_path(const char *p, struct mkl_err *err)
{
	size_t n = strlen(p);
	char *s = mkl_malloc(n + 2, err);

	if (s) {
		s[0] = '/';
		memcpy(s + 1, p[0] == '/' ? p + 1 : p, p[0] == '/' ? n : n + 1);
	}
	return s;
}

static int setup_boot(IsoImage *image, const struct mkl_iso_opts *o, struct mkl_err *err)
{
	ElToritoBootImage *boot;
	char *img, *cat, *fd = NULL;
	int ret;

	if (!o->boot_catalog || !o->boot_catalog[0])
		return mkl_error(err, EINVAL, "a boot image needs a boot catalog path");
	img = abs_path(o->boot_image, err);
	cat = img ? abs_path(o->boot_catalog, err) : NULL;
	if (cat && o->floppy_image)
		fd = abs_path(o->floppy_image, err);
	if (!cat || (o->floppy_image && !fd)) {
		free(img);
		free(cat);
		return -1;
	}
	if (fd) {
		/* libisofs checks the size: 1.2, 1.44 or 2.88 MB. */
		ret = iso_image_set_boot_image(image, fd, ELTORITO_FLOPPY_EMUL, cat, &boot);
		if (ret < 0) {
			mkl_error(err, 0, "cannot make '%s' the El Torito floppy image: %s",
				  o->floppy_image, iso_error_to_msg(ret));
		} else if ((ret = iso_image_add_boot_image(image, img, ELTORITO_NO_EMUL, 0, &boot)) < 0) {
			mkl_error(err, 0, "cannot make '%s' the second El Torito entry: %s",
				  o->boot_image, iso_error_to_msg(ret));
		}
	} else {
		ret = iso_image_set_boot_image(image, img, ELTORITO_NO_EMUL, cat, &boot);
		if (ret < 0)
			mkl_error(err, 0, "cannot make '%s' the El Torito boot image (catalog '%s'): %s",
				  o->boot_image, o->boot_catalog, iso_error_to_msg(ret));
	}
	if (ret >= 0) {
		el_torito_set_load_size(boot, 4);
		/* bit0: patch the boot info table; bit1: isohybrid. */
		el_torito_set_isolinux_options(boot, 1 | (o->mbr_template ? 2 : 0), 0);
		ret = 0;
	}
	if (ret == 0 && o->efi_image) {
		ElToritoBootImage *efi;
		char *e = abs_path(o->efi_image, err);

		if (!e) {
			ret = -1;
		} else if ((ret = iso_image_add_boot_image(image, e, ELTORITO_NO_EMUL, 0, &efi)) < 0) {
			mkl_error(err, 0, "cannot make '%s' the EFI boot image: %s", o->efi_image,
				  iso_error_to_msg(ret));
		} else {
			/* Platform 0xEF; the whole FAT image is loaded (its load size
			 * must be given: the 4 sectors of isolinux would be wrong);
			 * bit2-7 = 1: mentioned in the isohybrid GPT as a partition. */
			el_torito_set_boot_platform_id(efi, 0xef);
			el_torito_set_full_load(efi, 1);
			el_torito_set_isolinux_options(efi, o->mbr_template ? 1 << 2 : 0, 0);
			ret = 0;
		}
		free(e);
	}
	free(fd);
	free(img);
	free(cat);
	return ret < 0 ? -1 : 0;
}

static int make_opts(const struct mkl_iso_opts *o, IsoWriteOpts **out, struct mkl_err *err)
{
	IsoWriteOpts *w;
	struct tm tm;
	time_t t = (time_t)o->time;
	char uuid[32];
	int ret;

	ret = iso_write_opts_new(&w, 0);
	if (ret < 0)
		return mkl_isolib_fail(err, ret, "cannot make ISO write options");
	iso_write_opts_set_iso_level(w, 3);
	iso_write_opts_set_rockridge(w, 1);
	iso_write_opts_set_joliet(w, 1);
	iso_write_opts_set_relaxed_vol_atts(w, 1);
	/* RRIP 1.10: PX without the inode number, which libisofs assigns in an
	 * order that changes from run to run; readers number inodes by
	 * directory record position instead. */
	iso_write_opts_set_hardlinks(w, 0);
	iso_write_opts_set_rrip_version_1_10(w, 1);
	iso_write_opts_set_rrip_1_10_px_ino(w, 0);
	iso_write_opts_set_always_gmt(w, 1);
	/* Modes come from the nodes; owners are 0 whatever the nodes say. */
	iso_write_opts_set_replace_mode(w, 0, 0, 2, 2);
	iso_write_opts_set_default_uid(w, 0);
	iso_write_opts_set_default_gid(w, 0);
	/* Rock Ridge and directory-record times: opts->time everywhere. */
	iso_write_opts_set_dir_rec_mtime(w, 7);
	iso_write_opts_set_replace_timestamps(w, 2);
	iso_write_opts_set_default_timestamp(w, t);
	/* Volume descriptor times: the "uuid" YYYYMMDDhhmmsscc (GMT) fixes
	 * creation and modification; expiration and effective are unset. */
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999) {
		iso_write_opts_free(w);
		return mkl_error(err, EINVAL, "time %lld cannot be written in an ISO image",
				 (long long)o->time);
	}
	snprintf(uuid, sizeof(uuid), "%04d%02d%02d%02d%02d%02d00", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	ret = iso_write_opts_set_pvd_times(w, t, t, 0, 0, uuid);
	if (ret >= 0 && o->efi_image && o->mbr_template) {
		/* GPT GUIDs from the caller (derived from the input) or from the
		 * volume times: never random, so the image is reproducible. */
		static const unsigned char zero[16];
		unsigned char guid[16];

		memcpy(guid, o->gpt_guid, sizeof(guid));
		ret = iso_write_opts_set_gpt_guid(w, guid, memcmp(guid, zero, 16) ? 1 : 2);
	}
	if (ret >= 0 && o->mbr_template) {
		char *sa = calloc(1, SYSTEM_AREA);

		if (!sa) {
			iso_write_opts_free(w);
			return mkl_error(err, ENOMEM, "out of memory");
		}
		memcpy(sa, o->mbr_template, o->mbr_template_size);
		/* options bit1: isohybrid MBR patching (type 0 = MBR). */
		ret = iso_write_opts_set_system_area(w, sa, 2, 0);
		free(sa);	/* libisofs keeps a copy */
	}
	if (ret < 0) {
		iso_write_opts_free(w);
		return mkl_isolib_fail(err, ret, "cannot set ISO write options");
	}
	*out = w;
	return 0;
}

/* --- writing --- */

/* libisofs derives the isohybrid MBR disk signature (bytes 440..443) from
 * the clock; put one derived from the image time there instead. */
static void fix_disk_signature(unsigned char *mbr, int64_t t)
{
	uint32_t id = (uint32_t)((uint64_t)t * 2654435761u) ^ 0x6d6b6c76u;

	mbr[440] = id & 0xff;
	mbr[441] = (id >> 8) & 0xff;
	mbr[442] = (id >> 16) & 0xff;
	mbr[443] = (id >> 24) & 0xff;
}

/* Where the image goes: out_fd, with progress. */
struct dest {
	int fd;
	const struct mkl_iso_opts *o;
	mkl_progress_fn progress;
	void *pctx;
	uint64_t total;
	struct sums *sums;	/* NULL: no checksum list */
	/* A placed file: its bytes are in fd already and are not written
	 * again; its first block as libisofs hands it out must be the one in
	 * fd at placed_at (checked), or it was laid out elsewhere. */
	uint64_t placed_at, placed_end;
	const unsigned char *head;
	size_t head_len;
	int checked;
	struct sumrec *placed_sum;	/* its checksum, made here */
};

static int out_chunk(void *ctx, unsigned char *buf, size_t len, uint64_t done,
		     struct mkl_err *err)
{
	struct dest *d = ctx;

	if (done == 0 && len >= 512 && d->o->mbr_template)
		fix_disk_signature(buf, d->o->time);
	/* Chunks start on 2 KiB blocks, as does every file's data; the list
	 * is not inside the placed file (whose bytes may not be here). */
	for (size_t off = 0; d->sums && off + NONCE_LEN <= len; off += 2048) {
		if (done + off >= d->placed_at && done + off < d->placed_end)
			continue;
		if (memcmp(buf + off, d->sums->nonce, NONCE_LEN) == 0) {
			d->sums->at = done + off;
			d->sums->found++;
		}
	}
	if (!d->head) {
		if (mkl_write_all(d->fd, buf, len, "the ISO image", err) < 0)
			return -1;
	} else {
		uint64_t end = done + len;

		if (d->placed_at >= done && d->placed_at < end) {
			if (end - d->placed_at < d->head_len ||
			    memcmp(buf + (d->placed_at - done), d->head, d->head_len) != 0)
				return mkl_error(err, EIO, "writing the ISO image: libisofs laid "
						 "out a file elsewhere than where it was written");
			d->checked = 1;
		}
		if (d->placed_sum && end > d->placed_at && done < d->placed_end) {
			uint64_t from = done > d->placed_at ? done : d->placed_at;
			uint64_t to = end < d->placed_end ? end : d->placed_end;

			mkl_isosum_feed(d->placed_sum, from - d->placed_at, buf + (from - done), (size_t)(to - from));
		}
		/* what lies before and after the placed bytes */
		if (done < d->placed_at &&
		    mkl_pwrite_all(d->fd, buf, (size_t)((end < d->placed_at ? end : d->placed_at) - done),
				   done, "the ISO image", err) < 0)
			return -1;
		if (end > d->placed_end) {
			uint64_t from = done > d->placed_end ? done : d->placed_end;

			if (mkl_pwrite_all(d->fd, buf + (from - done), (size_t)(end - from), from,
					   "the ISO image", err) < 0)
				return -1;
		}
	}
	if (d->progress && len)
		d->progress(d->pctx, done + len, d->total);
	return 0;
}

/* The image with its files: the checksum list (if any) first, then the
 * padding (pad bytes, hidden in every tree: it only moves what follows),
 * then the placed file, then the others. probe: the placed file's stream
 * is only a marker (see find_place) and nothing is hashed. */
static int make_image(const struct mkl_iso_opts *o, const struct mkl_iso_file *files, size_t nfiles,
		      struct sums *sums, uint64_t pad, int probe,
		      IsoImage **out, struct mkl_err *err)
{
	IsoImage *image = NULL;
	size_t i;
	int ret;

	*out = NULL;
	ret = iso_image_new(o->volume_id, &image);
	if (ret < 0)
		return mkl_isolib_fail(err, ret, "cannot make an ISO image");
	iso_image_set_volume_id(image, o->volume_id);
	iso_image_set_volset_id(image, o->volume_set_id ? o->volume_set_id : "");
	iso_image_set_application_id(image, o->application_id ? o->application_id : "MKLIVE");
	iso_image_set_publisher_id(image, "MKLIVE");
	iso_image_set_data_preparer_id(image, "MKLIVE");
	iso_image_set_system_id(image, "LINUX");
	set_node((IsoNode *)iso_image_get_root(image), 0555, (time_t)o->time);

	for (i = 0; i < nfiles; i++) {
		IsoStream *given = NULL;

		if (files[i].placed && probe) {
			given = mkl_isolib_stream(&mkl_isosum_probe_source, sums, files[i].size, FS_ID,
						  (ino_t)i + 1, err);
			if (!given)
				goto fail;
		}
		struct sumrec *r = NULL;

		for (size_t k = 0; !probe && k < sums->n; k++)
			if (sums->recs[k].file == i && !sums->recs[k].done)
				r = &sums->recs[k];
		if (add_file(image, &files[i], i, (time_t)o->time, r, given,
			     err) < 0)
			goto fail;
	}
	if (o->sums_path) {
		struct mkl_iso_file f = { .path = o->sums_path, .size = sums->text_size, .fd = -1 };
		IsoStream *ss = mkl_isolib_stream(&mkl_isosum_source, sums, sums->text_size, FS_ID,
						  (ino_t)nfiles + 1, err);

		if (!ss || add_file(image, &f, nfiles, (time_t)o->time, NULL, ss, err) < 0)
			goto fail;
	}
	if (pad) {
		IsoStream *ps = mkl_isolib_stream(&zero_source, NULL, pad, FS_ID, (ino_t)nfiles + 2, err);
		IsoFile *file;

		if (!ps)
			goto fail;
		ret = iso_image_add_new_file(image, iso_image_get_root(image), PAD_NAME, ps, &file);
		if (ret < 0) {
			iso_stream_unref(ps);
			mkl_isolib_fail(err, ret, "cannot add the padding to the ISO image");
			goto fail;
		}
		set_node((IsoNode *)file, 0444, (time_t)o->time);
		iso_node_set_hidden((IsoNode *)file, LIBISO_HIDE_ON_RR | LIBISO_HIDE_ON_JOLIET |
				    LIBISO_HIDE_ON_1999 | LIBISO_HIDE_ON_HFSPLUS | LIBISO_HIDE_ON_FAT |
				    LIBISO_HIDE_BUT_WRITE);
		iso_node_set_sort_weight((IsoNode *)file, 1600);
	}
	if (o->boot_image) {
		IsoNode *cat;
		char *p;

		if (setup_boot(image, o, err) < 0)
			goto fail;
		/* The catalog node is made by libisofs; give it our times too. */
		p = abs_path(o->boot_catalog, err);
		if (!p)
			goto fail;
		if (iso_tree_path_to_node(image, p, &cat) == 1)
			set_node(cat, 0444, (time_t)o->time);
		free(p);
	}
	*out = image;
	return 0;
fail:
	iso_image_unref(image);
	return -1;
}

/* Where libisofs puts the placed file's data with no padding: a write of
 * the image whose placed stream starts with a marker (the nonce, inverted),
 * stopped as soon as the marker goes by. The placed file comes right after
 * the metadata and the checksum list, so this reads some 100 KB. */
struct probe {
	const unsigned char *marker;
	uint64_t at;
	int found;
};

static int probe_chunk(void *ctx, unsigned char *buf, size_t len, uint64_t done,
		       struct mkl_err *err)
{
	struct probe *p = ctx;

	for (size_t off = 0; off + NONCE_LEN <= len; off += 2048) {
		if (memcmp(buf + off, p->marker, NONCE_LEN) == 0) {
			p->at = done + off;
			p->found = 1;
			return mkl_error(err, 0, "found");	/* stops the pump */
		}
	}
	return 0;
}

static int find_place(const struct mkl_iso_opts *o, const struct mkl_iso_file *files, size_t nfiles,
		      struct sums *sums, uint64_t *at, struct mkl_err *err)
{
	struct burn_source *bs = NULL;
	IsoWriteOpts *wopts = NULL;
	IsoImage *image = NULL;
	unsigned char marker[NONCE_LEN];
	struct probe p = { marker, 0, 0 };
	uint64_t total;
	int rc = -1;

	for (int i = 0; i < NONCE_LEN; i++)
		marker[i] = (unsigned char)~sums->nonce[i];
	if (make_image(o, files, nfiles, sums, 0, 1, &image, err) < 0 ||
	    make_opts(o, &wopts, err) < 0 || mkl_isolib_start(image, wopts, &bs, &total, err) < 0)
		goto out;
	if (mkl_isolib_pump(bs, total, probe_chunk, &p, err) == 0 || !p.found) {
		if (!p.found)
			mkl_err_prefix(err, "finding where the ISO image puts its first file");
		goto out;
	}
	*at = p.at;
	rc = 0;
out:
	mkl_isolib_stop(bs, 1);
	iso_write_opts_free(wopts);
	if (image)
		iso_image_unref(image);
	mkl_isolib_drain(NULL, 0);
	return rc;
}

/* The options and the files make sense together; *placed: the one file
 * already written into the output where it will be, or NULL. */
static int check_opts(int out_fd, const struct mkl_iso_opts *o, const struct mkl_iso_file *files,
		      size_t nfiles, const struct mkl_iso_file **placed, struct mkl_err *err)
{
	if (mkl_iso_check_label(o->volume_id, err) < 0 ||
	    check_text("volume set id", o->volume_set_id, 128, err) < 0 ||
	    check_text("application id", o->application_id, 128, err) < 0)
		return -1;
	if (o->mbr_template && (o->mbr_template_size < 432 || o->mbr_template_size > SYSTEM_AREA))
		return mkl_error(err, EINVAL, "invalid isohybrid MBR template: %zu bytes (want "
				 "432 to %d)", o->mbr_template_size, SYSTEM_AREA);
	if (o->mbr_template && !o->boot_image)
		return mkl_error(err, EINVAL, "an isohybrid MBR needs an El Torito boot image");
	if (o->floppy_image && (!o->boot_image || o->mbr_template))
		return mkl_error(err, EINVAL, "a boot floppy needs the isolinux entry and no isohybrid MBR");
	*placed = NULL;
	for (size_t i = 0; i < nfiles; i++) {
		if (!files[i].placed)
			continue;
		if (*placed || files[i].mem || files[i].first || files[i].placed % 2048 ||
		    files[i].fd != out_fd || files[i].size == 0)
			return mkl_error(err, EINVAL, "cannot place '%s' in the ISO image: one file, "
					 "from the output, at a 2 KiB block, not first", files[i].path);
		*placed = &files[i];
	}
	return 0;
}

int mkl_iso_write(int out_fd, const struct mkl_iso_opts *o, const struct mkl_iso_file *files,
		  size_t nfiles, mkl_progress_fn progress, void *progress_ctx, struct mkl_err *err)
{
	struct burn_source *bs = NULL;
	IsoWriteOpts *wopts = NULL;
	IsoImage *image = NULL;
	struct sums sums = { 0 };
	const struct mkl_iso_file *placed = NULL;
	unsigned char head[2048];
	uint64_t total, pad = 0;
	struct stat st;
	size_t i;
	int rc = -1;

	if (check_opts(out_fd, o, files, nfiles, &placed, err) < 0 || mkl_isolib_setup(err))
		return -1;
	if (mkl_isosum_start(&sums, o->sums_path ? files : NULL, nfiles, err) < 0)
		goto out;
	if (placed) {
		uint64_t at;
		ssize_t n;

		if (find_place(o, files, nfiles, &sums, &at, err) < 0)
			goto out;
		if (at > placed->placed) {
			mkl_error(err, ENOSPC, "cannot place '%s' at byte %" PRIu64 " of the ISO "
				  "image: what comes before it ends at %" PRIu64, placed->path,
				  placed->placed, at);
			goto out;
		}
		pad = placed->placed - at;
		n = pread(out_fd, head, sizeof(head), (off_t)placed->placed);
		if (n != (ssize_t)sizeof(head) && (n < 0 || (uint64_t)n != placed->size)) {
			mkl_error(err, n < 0 ? errno : EIO, "cannot read '%s' back", placed->path);
			goto out;
		}
	}
	if (make_image(o, files, nfiles, &sums, pad, 0, &image, err) < 0 ||
	    make_opts(o, &wopts, err) < 0)
		goto out;

	if (mkl_isolib_start(image, wopts, &bs, &total, err) < 0)
		goto out;
	{
		struct dest d = { .fd = out_fd, .o = o, .progress = progress, .pctx = progress_ctx,
				  .total = total, .sums = sums.text_size ? &sums : NULL };

		if (placed) {
			d.placed_at = placed->placed;
			d.placed_end = placed->placed + placed->size;
			d.head = head;
			d.head_len = placed->size < sizeof(head) ? (size_t)placed->size : sizeof(head);
			for (i = 0; i < sums.n; i++)
				if (sums.recs[i].file == (size_t)(placed - files) && !sums.recs[i].done)
					d.placed_sum = &sums.recs[i];
		}
		if (progress)
			progress(progress_ctx, 0, total);
		if (mkl_isolib_pump(bs, total, out_chunk, &d, err) < 0)
			goto out;
		if (placed && !d.checked) {
			mkl_error(err, EIO, "writing the ISO image: '%s' is not where it was written",
				  placed->path);
			goto out;
		}
	}
	if (sums.text_size && mkl_isosum_write(&sums, out_fd, err) < 0)
		goto out;
	if (fstat(out_fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    ftruncate(out_fd, (off_t)total) < 0) {
		mkl_error(err, errno, "writing the ISO image: cannot truncate it to %llu bytes",
			  (unsigned long long)total);
		goto out;
	}
	rc = 0;
out:
	mkl_isolib_stop(bs, rc < 0);
	iso_write_opts_free(wopts);
	if (image)
		iso_image_unref(image);
	mkl_isolib_drain(NULL, 0);
	mkl_isosum_free(&sums);
	return rc;
}
