/* mklive cloop create|extract|info: cloop V2.0/V4.0 images from and to
 * plain files (the library part is src/fmt/cloop.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tree/outfile.h"
#include "cli/config.h"
#include "codec/codec.h"
#include "fmt/cloop.h"


static void usage(FILE *f)
{
	fprintf(f,
"Usage: mklive cloop create [OPTIONS] IN OUT\n"
"       mklive cloop extract IN OUT\n"
"       mklive cloop info IN\n"
"\n"
"cloop compressed block images, as cloop-utils' create_compressed_fs and\n"
"extract_compressed_fs make and read them (Knoppix's compressed ISO 9660).\n"
"IN and OUT may be '-' for standard input and output (extract: OUT only).\n"
"An image holds whole blocks: the last one is padded with zeros, so extract\n"
"gives back the input followed by zeros up to a multiple of the block size.\n"
"\n"
"Options for create:\n"
"      --format v2|v4      V2.0 (default): zlib blocks, read by every cloop\n"
"                          reader; V4.0: a codec per block (cloop 4 driver)\n"
"      --codec NAME        zlib (default), and for v4 also xz, lz4, none;\n"
"                          v4 stores a block that does not shrink as 'none'\n"
"      --level N           compression level (zlib 1-9, default 9; xz 0-9,\n"
"                          default 6; lz4 1-12, default 9, 3+ is LZ4 HC)\n"
"      --block-size BYTES  a multiple of 512 up to 64M (default 64K; qemu reads\n"
"                          at most 64 MiB, create_compressed_fs warns past 256K)\n"
"  -j, --threads N         compression threads (default: all cores); the output\n"
"                          is the same for any N\n"
"      --compat            zlib levels 8-9: zlib's own full search, byte-identical\n"
"                          to create_compressed_fs (about 4x slower); by default\n"
"                          the search is capped, for ~0.1%% larger blocks\n"
"  -v, --verbose           print a summary\n"
"  -h, --help              this text\n"
"\n"
"OUT is replaced only when complete: on an error or Ctrl-C no partial file\n"
"is left. extract and info check every block and name the first bad one.\n");
}


/* ---- create ---- */

enum { OPT_FORMAT = 256, OPT_CODEC, OPT_LEVEL, OPT_BLOCK_SIZE, OPT_COMPAT };

static const struct option create_opts[] = {
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "codec", required_argument, NULL, OPT_CODEC },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "block-size", required_argument, NULL, OPT_BLOCK_SIZE },
	{ "threads", required_argument, NULL, 'j' },
	{ "compat", no_argument, NULL, OPT_COMPAT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};


static int create(int argc, char **argv)
{
	struct mkl_cloop_opts o = { .version = 2, .codec = MKL_CODEC_GZIP };
	struct mkl_cloop_writer *w = NULL;
	struct mkl_cloop_stats st;
	struct mkl_err err = { 0 };
	struct mkl_outfile out = { .fd = -1 };
	const char *codec = NULL, *in;
	int c, in_fd = 0, verbose = 0, ret = 1, level_given = 0;
	uint64_t bs = 0;
	struct stat sb;
	char *buf = NULL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "j:vh", create_opts, NULL)) != -1) {
		switch (c) {
		case OPT_FORMAT:
			if (!strcasecmp(optarg, "v2") || !strcmp(optarg, "2") || !strcasecmp(optarg, "v2.0"))
				o.version = 2;
			else if (!strcasecmp(optarg, "v4") || !strcmp(optarg, "4") ||
				 !strcasecmp(optarg, "v4.0"))
				o.version = 4;
			else
				die_usage("--format: unknown '%s' (v2 or v4)", optarg);
			break;
		case OPT_CODEC: codec = optarg; break;
		case OPT_LEVEL: o.level = (int)cli_number("--level", optarg, 0, 22); level_given = 1; break;
		case OPT_BLOCK_SIZE:
			bs = cli_size("--block-size", optarg, 1, 0, NULL);
			if (bs == 0 || bs % 512 || bs > MKL_CLOOP_MAX_BLOCK)
				die_usage("--block-size: %s is not a multiple of 512 from 512 to 64M", optarg);
			o.block_size = (uint32_t)bs;
			break;
		case 'j': o.threads = (unsigned)cli_number("--threads", optarg, 1, 256); break;
		case OPT_COMPAT: o.exact = true; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: fprintf(stderr, "Try '%s --help' for more information.\n", prog); return 2;
		}
	}
	if (argc - optind != 2)
		die_usage("create: expected IN and OUT, got %d argument%s", argc - optind,
			  argc - optind == 1 ? "" : "s");
	if (codec) {
		if (!strcmp(codec, "lzo"))
			die_usage("--codec: lzo blocks are read by the cloop driver but not written here "
				  "(zlib, xz, lz4, none)");
		if (mkl_codec_parse(codec, &o.codec, &err) || o.codec == MKL_CODEC_ZSTD)
			die_usage("--codec: unknown '%s' (zlib, xz, lz4, none)", codec);
	}
	if (o.version == 2 && o.codec != MKL_CODEC_GZIP)
		die_usage("--codec %s: cloop V2.0 is zlib only (add --format v4)", codec);
	if (level_given && o.codec != MKL_CODEC_NONE && mkl_codec_check_level(o.codec, o.level, &err))
		die_usage("--level: %s", err.msg);
	in = argv[optind];

	cli_catch_signals();
	if (strcmp(in, "-")) {
		in_fd = open(in, O_RDONLY | O_CLOEXEC);
		if (in_fd < 0) {
			mkl_error(&err, errno, "cannot open '%s'", in);
			return cli_report(&err);
		}
	}
	if (fstat(in_fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		o.size_known = true;
		o.expected_size = (uint64_t)sb.st_size;
	}
	buf = malloc(1 << 20);
	if (!buf) {
		mkl_error(&err, ENOMEM, "out of memory");
		goto done;
	}
	if (mkl_outfile_not_input(argv[optind + 1], in, &err) ||
	    mkl_outfile_open(&out, argv[optind + 1], true, &err))
		goto done;
	if (mkl_cloop_create(out.fd, &o, &w, &err))
		goto done;
	for (;;) {
		ssize_t n = mkl_wait_fd(in_fd, 0) < 0 ? -1 : read(in_fd, buf, 1 << 20);

		if (n < 0 && errno == EINTR && !mkl_cancelled())
			continue;
		if (n < 0) {
			mkl_error(&err, errno, "cannot read '%s'", in);
			goto done;
		}
		if (n == 0)
			break;
		if (mkl_cloop_write(w, buf, (size_t)n, &err))
			goto done;
	}
	if (mkl_cloop_finish(w, &st, &err) || mkl_outfile_commit(&out, &err))
		goto done;
	if (verbose) {
		fprintf(stderr, "%s: %s: V%d.0, %" PRIu32 " blocks of %" PRIu32 " bytes, %" PRIu64
			" -> %" PRIu64 " bytes (%.1f%%)\n", prog, argv[optind + 1], st.version, st.blocks,
			st.block_size, st.input_bytes, st.file_bytes,
			st.image_bytes ? 100.0 * (double)st.file_bytes / (double)st.image_bytes : 0.0);
	}
	ret = 0;
done:
	mkl_cloop_writer_destroy(w);
	mkl_outfile_close(&out);
	if (in_fd > 0)
		close(in_fd);
	free(buf);
	return ret ? cli_report(&err) : 0;
}

/* ---- extract, info ---- */

static int open_image(const char *path, int *fd, struct mkl_cloop_reader **r, struct mkl_err *err)
{
	struct stat sb;

	*fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (*fd < 0)
		return mkl_error(err, errno, "cannot open '%s'", path);
	if (fstat(*fd, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISBLK(sb.st_mode)) {
		if (*fd > 0)
			close(*fd);
		*fd = -1;
		return mkl_error(err, ESPIPE, "'%s': a cloop image must be a file or block device", path);
	}
	if (mkl_cloop_open(*fd, r, err)) {
		if (*fd > 0)
			close(*fd);
		*fd = -1;
		return mkl_err_prefix(err, "'%s'", path);
	}
	return 0;
}

static int sink_fd(void *ctx, const void *buf, size_t len, struct mkl_err *err)
{
	const char *p = buf;
	int fd = *(int *)ctx;

	while (len > 0) {
		ssize_t n = mkl_wait_fd(fd, 1) < 0 ? -1 : write(fd, p, len);

		if (n < 0 && errno == EINTR && !mkl_cancelled())
			continue;
		if (n < 0)
			return mkl_error(err, errno, "cannot write the output");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int extract(int argc, char **argv)
{
	struct mkl_cloop_reader *r = NULL;
	struct mkl_err err = { 0 };
	struct mkl_outfile out = { .fd = -1 };
	int fd = -1, ret = 1;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc != 3)
		die_usage("extract: expected IN and OUT, got %d argument%s", argc - 1, argc == 2 ? "" : "s");
	cli_catch_signals();
	if (mkl_outfile_not_input(argv[2], argv[1], &err) || open_image(argv[1], &fd, &r, &err) ||
	    mkl_outfile_open(&out, argv[2], true, &err))
		goto done;
	if (mkl_cloop_extract(r, sink_fd, &out.fd, &err)) {
		mkl_err_prefix(&err, "'%s'", argv[1]);
		goto done;
	}
	if (mkl_outfile_commit(&out, &err))
		goto done;
	ret = 0;
done:
	mkl_cloop_close(r);
	mkl_outfile_close(&out);
	if (fd > 0)
		close(fd);
	return ret ? cli_report(&err) : 0;
}

static int info(int argc, char **argv)
{
	struct mkl_cloop_reader *r = NULL;
	struct mkl_cloop_stats st;
	struct mkl_err err = { 0 };
	int fd = -1, first = 1;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc != 2)
		die_usage("info: expected one IN, got %d arguments", argc - 1);
	if (open_image(argv[1], &fd, &r, &err))
		return cli_report(&err);
	mkl_cloop_info(r, &st);
	printf("header: %s (header %s)\n", mkl_cloop_header_line(r),
	       mkl_cloop_header_last(r) ? "last" : "first");
	printf("version: %d.0\n", st.version);
	printf("block size: %" PRIu32 "\n", st.block_size);
	printf("blocks: %" PRIu32 "\n", st.blocks);
	printf("codecs:");
	for (unsigned i = 0; i < 16; i++) {
		if (!st.per_codec[i])
			continue;
		printf("%s %s %" PRIu32, first ? "" : ",", mkl_cloop_codec_name(i), st.per_codec[i]);
		first = 0;
	}
	printf("%s\n", first ? " -" : "");
	printf("original size: %" PRIu64 "\n", st.image_bytes);
	printf("compressed size: %" PRIu64 "\n", st.file_bytes);
	if (st.image_bytes)
		printf("ratio: %.2f%%\n", 100.0 * (double)st.file_bytes / (double)st.image_bytes);
	else
		printf("ratio: -\n");
	mkl_cloop_close(r);
	if (fd > 0)
		close(fd);
	return 0;
}

int cmd_cloop(int argc, char **argv)
{
	if (argc < 2)
		die_usage("expected a subcommand: create, extract or info");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "create"))
		return create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "extract"))
		return extract(argc - 1, argv + 1);
	if (!strcmp(argv[1], "info"))
		return info(argc - 1, argv + 1);
	die_usage("unknown subcommand '%s' (create, extract or info)", argv[1]);
}
