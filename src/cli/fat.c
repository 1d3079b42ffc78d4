/* mklive fat: being written. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_fat(int argc, char **argv)
{
	fprintf(stderr, "%s: not available yet\n", prog);
	return 1;
}
