/* mklive test: boot an image in QEMU the ways a user will, one row per
 * firmware (BIOS, UEFI, UEFI with Secure Boot) and medium (CD, USB stick),
 * and say for each whether the live system came up. "Came up" is the line
 * mklive-init writes after switch_root, just before it starts the real
 * init, read from the first serial port (every boot entry has
 * console=ttyS0) — not the kernel banner.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "fmt/authenticode.h"
#include "fmt/varstore.h"
#include "tree/io.h"

#define KVM_GET_API_VERSION 0xAE00
#define KVM_CREATE_VM 0xAE01

static const char *const firmwares[] = { "bios", "uefi", "secureboot" };
static const char *const media[] = { "cd", "usb" };

struct opts {
	const char *image, *qemu, *ovmf;
	const char *db, *mok;	/* certificates added to the Secure Boot variable store */
	int db_only;		/* --db-only: db holds that certificate alone */
	const char *vars_out;	/* write that store here instead of booting */
	int firmware, as;	/* -1: every one */
	int timeout;
	int verbose;
	int kvm;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: mklive test [OPTIONS] IMAGE.iso\n"
"\n"
"Boot IMAGE in QEMU as a user would, and say whether the live system came up:\n"
"one line per firmware and medium, with the time to the live system. The\n"
"live system is up when mklive-init prints, on the serial port, that it\n"
"starts the real init (after switch_root). Exit 0 when every row run passed.\n"
"Try an image this way before writing it to a USB stick.\n"
"\n"
"  --firmware bios|uefi|secureboot   one firmware (default: each this machine\n"
"                                    has: UEFI needs OVMF, package ovmf)\n"
"  --as cd|usb                       one medium (default: both)\n"
"  --timeout SECONDS                 per boot (default 300)\n"
"  --ovmf-dir DIR                    OVMF_CODE_4M*.fd, OVMF_VARS_4M*.fd\n"
"                                    (default /usr/share/OVMF)\n"
"  --db CERT                         Secure Boot with CERT (PEM or DER) added\n"
"                                    to the firmware's db: an image signed with\n"
"                                    its key (mklive build --sign-key) boots\n"
"                                    (implies --firmware secureboot)\n"
"  --db-only CERT                    the same, but CERT the only key in db\n"
"                                    (Microsoft's removed), as on a machine\n"
"                                    whose owner enrolled their own keys\n"
"  --mok CERT                        the same, CERT added to shim's MOK list\n"
"                                    instead, as after enrolment (mokutil)\n"
"  --vars-out FILE                   with --db/--db-only/--mok: write that store\n"
"                                    (OVMF_VARS_4M.ms.fd with the certificate)\n"
"                                    to FILE and boot nothing, for your own QEMU\n"
"  --qemu PATH                       default qemu-system-x86_64\n"
"  --kvm                             use KVM when /dev/kvm answers within 2 s\n"
"                                    (default TCG: slower, but works everywhere;\n"
"                                    some hosts' KVM fails on isolinux)\n"
"  -v, --verbose                     copy the serial console to stderr\n");
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Does /dev/kvm answer? In a child, since on some machines it hangs. */
static int kvm_answers(void)
{
	int p[2], ok = 0;
	pid_t pid;
	struct pollfd pf;

	if (access("/dev/kvm", R_OK | W_OK) || pipe(p))
		return 0;
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		char c = 1;

		if (fd >= 0 && ioctl(fd, KVM_GET_API_VERSION, 0) == 12 && ioctl(fd, KVM_CREATE_VM, 0) >= 0)
			(void)!write(p[1], &c, 1);
		_exit(0);
	}
	close(p[1]);
	pf = (struct pollfd){ .fd = p[0], .events = POLLIN };
	if (pid > 0 && poll(&pf, 1, 2000) == 1) {
		char c;

		ok = read(p[0], &c, 1) == 1;
	}
	close(p[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return ok;
}

/* Why a row cannot run here, or NULL. */
static const char *cannot_run(const struct opts *o, int fw, char *why, size_t size)
{
	static const char *const code[] = { NULL, "OVMF_CODE_4M.fd", "OVMF_CODE_4M.secboot.fd" };
	static const char *const vars[] = { NULL, "OVMF_VARS_4M.fd", "OVMF_VARS_4M.ms.fd" };
	char path[4096];

	if (fw == 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", o->ovmf, code[fw]);
	if (access(path, R_OK) == 0) {
		snprintf(path, sizeof(path), "%s/%s", o->ovmf, vars[fw]);
		if (access(path, R_OK) == 0)
			return NULL;
	}
	snprintf(why, size, "no %s (install the ovmf package, or --ovmf-dir)", path);
	return why;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	close(out);
	return n < 0 ? -1 : 0;
}

/* The option that gave certificate i (0: db, 1: MokList), for messages */
static const char *cert_option(const struct opts *o, int i)
{
	return i ? "--mok" : o->db_only ? "--db-only" : "--db";
}

/* The copy of the Secure Boot variable store with the certificates of
 * --db and --mok added (fmt/varstore.h). */
static int add_certs(const struct opts *o, const char *vars, char *why, size_t size)
{
	struct mkl_buf store = { 0 }, der = { 0 };
	struct mkl_err err = { 0 };
	const char *const certs[] = { o->db, o->mok };
	int rc = -1;

	if (mkl_read_file(vars, &store, false, &err))
		goto out;
	for (int i = 0; i < 2; i++) {
		if (!certs[i])
			continue;
		der.len = 0;
		if (mkl_cert_load_der(certs[i], &der, &err) ||
		    (i || !o->db_only ? mkl_varstore_add_cert : mkl_varstore_set_cert)(
			    store.data, store.len, i ? MKL_VAR_MOKLIST : MKL_VAR_DB, der.data, der.len, &err)) {
			mkl_err_prefix(&err, "%s", cert_option(o, i));
			goto out;
		}
	}
	{
		FILE *f = fopen(vars, "w");

		if (!f || fwrite(store.data, 1, store.len, f) != store.len) {
			mkl_error(&err, errno, "cannot write '%s'", vars);
			if (f)
				fclose(f);
			goto out;
		}
		if (fclose(f)) {
			mkl_error(&err, errno, "cannot write '%s'", vars);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc)
		snprintf(why, size, "%s", err.msg);
	mkl_buf_free(&store);
	mkl_buf_free(&der);
	return rc;
}

/* QEMU's command line for one row into argv (at most 40); the buffers hold
 * the strings it points to. The firmware's variable store is copied to a
 * temporary file named in vars, which the caller removes. 0, or -1 with
 * why filled. */
struct qemu_args {
	const char *argv[40];
	char vars[64], code[4096], varsrc[4096], drive[4200], pflash0[4200], pflash1[200];
};

static int qemu_argv(const struct opts *o, int fw, int as, struct qemu_args *q, char *why,
		     size_t size)
{
	const char *const common[] = { o->qemu, "-accel", o->kvm ? "kvm" : "tcg", "-m", "1024",
				       "-nographic", "-no-reboot", "-monitor", "none", "-serial",
				       "stdio" };
	int argc = 0;

	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		q->argv[argc++] = common[i];
	if (fw > 0) {
		int fd;

		snprintf(q->code, sizeof(q->code), "%s/%s", o->ovmf,
			 fw == 1 ? "OVMF_CODE_4M.fd" : "OVMF_CODE_4M.secboot.fd");
		snprintf(q->varsrc, sizeof(q->varsrc), "%s/%s", o->ovmf,
			 fw == 1 ? "OVMF_VARS_4M.fd" : "OVMF_VARS_4M.ms.fd");
		snprintf(q->vars, sizeof(q->vars), "%s/mklive-vars-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		fd = mkstemp(q->vars);
		if (fd < 0 || (close(fd), copy_file(q->varsrc, q->vars))) {
			snprintf(why, size, "cannot copy %s: %s", q->varsrc, strerror(errno));
			if (fd < 0)
				q->vars[0] = '\0';
			return -1;
		}
		if (fw == 2 && (o->db || o->mok) && add_certs(o, q->vars, why, size))
			return -1;
		q->argv[argc++] = "-M";
		q->argv[argc++] = fw == 2 ? "q35,smm=on" : "q35";
		if (fw == 2) {
			q->argv[argc++] = "-global";
			q->argv[argc++] = "driver=cfi.pflash01,property=secure,value=on";
		}
		snprintf(q->pflash0, sizeof(q->pflash0), "if=pflash,format=raw,unit=0,readonly=on,file=%s",
			 q->code);
		snprintf(q->pflash1, sizeof(q->pflash1), "if=pflash,format=raw,unit=1,file=%s", q->vars);
		q->argv[argc++] = "-drive";
		q->argv[argc++] = q->pflash0;
		q->argv[argc++] = "-drive";
		q->argv[argc++] = q->pflash1;
	}
	if (as == 0) {
		q->argv[argc++] = "-cdrom";
		q->argv[argc++] = o->image;
	} else {
		snprintf(q->drive, sizeof(q->drive), "if=none,id=stick,format=raw,readonly=on,file=%s",
			 o->image);
		q->argv[argc++] = "-device";
		q->argv[argc++] = "qemu-xhci";
		q->argv[argc++] = "-drive";
		q->argv[argc++] = q->drive;
		q->argv[argc++] = "-device";
		q->argv[argc++] = "usb-storage,drive=stick,bootindex=1";
	}
	q->argv[argc] = NULL;
	return 0;
}

/* Read QEMU's serial console (fd) until the live system says it starts
 * the real init (1), or fails, or the deadline passes (0); why says which. */
static int watch_serial(const struct opts *o, int fd, double deadline, char *why, size_t size)
{
	char line[4096];
	size_t len = 0;

	snprintf(why, size, "no sign of the live system within %d s", o->timeout);
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		double left = deadline - now();
		ssize_t n;
		char c;

		if (left <= 0 || poll(&pf, 1, (int)(left * 1000) + 1) <= 0)
			return 0;
		n = read(fd, &c, 1);
		if (n <= 0) {
			line[len] = '\0';
			snprintf(why, size, "QEMU stopped before the live system came up%s%s",
				 len ? ": " : "", len ? line : "");
			return 0;
		}
		if (o->verbose)
			fputc(c, stderr);
		if (c != '\n' && len < sizeof(line) - 1) {
			line[len++] = c;
			continue;
		}
		line[len] = '\0';
		if (strstr(line, "mklive: starting ")) {
			char *s = strstr(line, "mklive: ");

			s[strcspn(s, "\r")] = '\0';
			snprintf(why, size, "%s", s);
			return 1;
		}
		if (strstr(line, "Kernel panic") || strstr(line, "mklive: error:") ||
		    strstr(line, "No bootable device")) {
			line[strcspn(line, "\r")] = '\0';
			snprintf(why, size, "%s", line);
			return 0;
		}
		len = 0;
	}
}

/* Boot one row. 1 pass, 0 fail; *secs and why say more. */
static int boot_row(const struct opts *o, int fw, int as, double *secs, char *why, size_t size)
{
	struct qemu_args q = { .vars = "" };
	int p[2], result = 0, status;
	double start = now();
	pid_t pid;

	if (qemu_argv(o, fw, as, &q, why, size))
		goto out;
	if (pipe2(p, O_CLOEXEC)) {
		snprintf(why, size, "pipe: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(o->qemu, (char *const *)q.argv);
		fprintf(stderr, "cannot run %s: %s\n", o->qemu, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	if (pid > 0)
		result = watch_serial(o, p[0], start + o->timeout, why, size);
	else
		snprintf(why, size, "fork: %s", strerror(errno));
	*secs = now() - start;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(p[0]);
out:
	if (q.vars[0])
		unlink(q.vars);
	return result;
}

static int pick(const char *opt, const char *v, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v, names[i]))
			return i;
	die_usage("%s: unknown '%s'", opt, v);
}

/* Long (about 130 lines): the options, then the checks between them, each
 * a usage error of its own, before any QEMU starts. */
int cmd_test(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "firmware", required_argument, NULL, 'f' },
		{ "as", required_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "ovmf-dir", required_argument, NULL, 'o' },
		{ "qemu", required_argument, NULL, 'Q' },
		{ "db", required_argument, NULL, 'd' },
		{ "db-only", required_argument, NULL, 'D' },
		{ "mok", required_argument, NULL, 'm' },
		{ "vars-out", required_argument, NULL, 'V' },
		{ "kvm", no_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .qemu = "qemu-system-x86_64", .ovmf = "/usr/share/OVMF", .firmware = -1,
			  .as = -1, .timeout = 300 };
	int c, ran = 0, failed = 0, dbs = 0;
	struct stat st;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o.firmware = pick("--firmware", optarg, firmwares, 3); break;
		case 'a': o.as = pick("--as", optarg, media, 2); break;
		case 't':
			o.timeout = atoi(optarg);
			if (o.timeout < 1 || o.timeout > 3600)
				die_usage("--timeout: '%s' is not a number of seconds from 1 to 3600", optarg);
			break;
		case 'o': o.ovmf = optarg; break;
		case 'Q': o.qemu = optarg; break;
		case 'd':
		case 'D':
			o.db = optarg;
			o.db_only = c == 'D';
			dbs++;
			break;
		case 'm': o.mok = optarg; break;
		case 'V': o.vars_out = optarg; break;
		case 'k': o.kvm = 1; break;
		case 'v': o.verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: fprintf(stderr, "Try '%s --help' for more information.\n", prog); return 2;
		}
	}
	if (dbs > 1)
		die_usage("--db, --db-only: one certificate for db");
	if (o.vars_out) {
		char why[1024], from[4096];

		if (!o.db && !o.mok)
			die_usage("--vars-out: give the certificates, --db, --db-only or --mok");
		if (optind != argc)
			die_usage("--vars-out: boots nothing, takes no IMAGE");
		snprintf(from, sizeof(from), "%s/OVMF_VARS_4M.ms.fd", o.ovmf);
		if (copy_file(from, o.vars_out)) {
			fprintf(stderr, "%s: cannot copy '%s' to '%s': %s\n", prog, from, o.vars_out, strerror(errno));
			return 1;
		}
		if (add_certs(&o, o.vars_out, why, sizeof(why))) {
			unlink(o.vars_out);
			fprintf(stderr, "%s: %s\n", prog, why);
			return 1;
		}
		return 0;
	}
	if (optind + 1 != argc)
		die_usage("test: give one IMAGE");
	if (o.db || o.mok) {	/* keys matter under Secure Boot only */
		if (o.firmware >= 0 && o.firmware != 2)
			die_usage("--db, --db-only, --mok: Secure Boot keys, for --firmware secureboot only");
		o.firmware = 2;
		for (int i = 0; i < 2; i++) {	/* a bad certificate: said once, before any boot */
			const char *cert = i ? o.mok : o.db;
			struct mkl_buf der = { 0 };
			struct mkl_err err = { 0 };

			if (cert && mkl_cert_load_der(cert, &der, &err)) {
				fprintf(stderr, "%s: %s: %s\n", prog, cert_option(&o, i), err.msg);
				return 1;
			}
			mkl_buf_free(&der);
		}
	}
	o.image = argv[optind];
	if (stat(o.image, &st) || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "%s: cannot use '%s': %s\n", prog, o.image,
			errno ? strerror(errno) : "not a file");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (o.kvm && !kvm_answers()) {
		fprintf(stderr, "%s: /dev/kvm does not answer: using TCG\n", prog);
		o.kvm = 0;
	}
	printf("%-11s %-4s %-5s %8s  %s\n", "firmware", "as", "", "time", "detail");
	for (int fw = 0; fw < 3; fw++) {
		for (int as = 0; as < 2; as++) {
			char why[512];
			double secs = 0;

			if ((o.firmware >= 0 && fw != o.firmware) || (o.as >= 0 && as != o.as))
				continue;
			if (cannot_run(&o, fw, why, sizeof(why))) {
				if (o.firmware == fw) {
					fprintf(stderr, "%s: %s: %s\n", prog, firmwares[fw], why);
					return 1;
				}
				printf("%-11s %-4s %-5s %8s  %s\n", firmwares[fw], media[as], "skip", "-", why);
				continue;
			}
			ran++;
			if (boot_row(&o, fw, as, &secs, why, sizeof(why))) {
				printf("%-11s %-4s %-5s %7.1fs  %s\n", firmwares[fw], media[as], "pass", secs, why);
			} else {
				failed++;
				printf("%-11s %-4s %-5s %7.1fs  %s\n", firmwares[fw], media[as], "FAIL", secs, why);
			}
			fflush(stdout);
		}
	}
	if (!ran) {
		fprintf(stderr, "%s: no row could run here\n", prog);
		return 1;
	}
	return failed ? 1 : 0;
}
