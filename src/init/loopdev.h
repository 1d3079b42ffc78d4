/* The loop driver's ioctls: <linux/loop.h> is not part of musl's headers.
 * Shared by the init (mount.c) and mklive-helper (findiso.c). */
#ifndef MKLIVE_LOOPDEV_H
#define MKLIVE_LOOPDEV_H

#include <stdint.h>

#define LOOP_SET_FD		0x4C00
#define LOOP_CLR_FD		0x4C01
#define LOOP_SET_STATUS64	0x4C04
#define LOOP_CONFIGURE		0x4C0A
#define LOOP_CTL_GET_FREE	0x4C82
#define LO_FLAGS_READ_ONLY	1
#define LO_FLAGS_AUTOCLEAR	4
#define LOOP_MAJOR		7

struct loop_info64 {
	uint64_t lo_device, lo_inode, lo_rdevice, lo_offset, lo_sizelimit;
	uint32_t lo_number, lo_encrypt_type, lo_encrypt_key_size, lo_flags;
	uint8_t lo_file_name[64], lo_crypt_name[64], lo_encrypt_key[32];
	uint64_t lo_init[2];
};

struct loop_config {
	uint32_t fd, block_size;
	struct loop_info64 info;
	uint64_t reserved[8];
};

#endif
