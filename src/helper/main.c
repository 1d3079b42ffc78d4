/* mklive-helper JOB ARGS...: the jobs the init hands over because they
 * need more code than PID 1 should carry (the init stays under 64 KiB;
 * see docs/ARCHITECTURE.md, "The init's helper"). One static program in
 * the initramfs as /mklive-helper; one row per job below, one file each.
 *
 * Each job exits 0 when done, 1 with the reason on standard error when it
 * could not be done (the init then goes on without it, and says so), 2 for
 * a usage error. */
#include <stdio.h>
#include <string.h>

#include "helper.h"

static const struct job {
	const char *name, *args, *what;
	int (*run)(int argc, char **argv);
} jobs[] = {
	{ "persist", "DISK [LABEL]", "make persistence in the free space after DISK's last partition",
	  helper_persist },
	{ "findiso", "/PATH [SECS [rw]]", "find the ISO file PATH on a disk's partitions, attach it to a loop device",
	  helper_findiso },
	{ "luks", "DISK", "open the encrypted persistence on DISK's disk, or make it in its free space",
	  helper_luks },
	{ "verity", "DEV image|rw DIR", "mount the squashfs on DEV through dm-verity on DIR\n"
	  "                              (verity image|rw: remove that device)",
	  helper_verity },
	{ "entry", "OUT", "the systemd-boot entry chosen for the signed UKI: its arguments into OUT",
	  helper_entry },
};

int main(int argc, char **argv)
{
	size_t i;

	for (i = 0; argc > 1 && i < sizeof(jobs) / sizeof(jobs[0]); i++)
		if (!strcmp(argv[1], jobs[i].name))
			return jobs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "usage: mklive-helper JOB ARGS...\n");
	for (i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++)
		fprintf(stderr, "  %-8s %-18s %s\n", jobs[i].name, jobs[i].args, jobs[i].what);
	return 2;
}
