/* Bitwise CRCs: a few hundred bytes of code instead of tables; they run
 * over a few KiB of partition and group descriptor tables once. */
#include "helper.h"

uint32_t persist_crc32(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

uint16_t persist_crc16(uint16_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (uint16_t)((crc >> 1) ^ (0xA001u & (0u - (crc & 1u))));
	}
	return crc;
}
