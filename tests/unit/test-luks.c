/* mklive-helper's LUKS1 pieces (src/helper/pbkdf2.c, luks.c), on the host:
 *
 * - HMAC-SHA-256 and PBKDF2-HMAC-SHA-256 against published vectors (RFC
 *   4231, RFC 7914 section 11, and the RFC 6070-style SHA-256 set) and
 *   against libcrypto's PKCS5_PBKDF2_HMAC on keys, salts and lengths
 *   around the block sizes;
 * - the splitter: merge(split(key)) is the key, and a changed stripe
 *   gives another key;
 * - a LUKS1 file written by QEMU (qemu-img create -f luks, a writer we did
 *   not write) read by ours: header parsed, key slot 0 decrypted (AES-XTS
 *   from libcrypto here: the helper has the kernel's dm-crypt do it),
 *   merged, and the master key's digest matches;
 * - a LUKS1 file written by ours (header, layout, split, digest; the key
 *   slot and a payload encrypted with libcrypto) read by cryptsetup
 *   (luksDump, open --test-passphrase right and wrong) and by QEMU's luks
 *   driver (qemu-img convert), which must give the payload back.
 * The tools missing make skips. */
#include "t.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "../../src/helper/luks.c"
#include "../../src/helper/pbkdf2.c"

static void unhex(const char *h, unsigned char *out)
{
	while (h[0] && h[1]) {
		unsigned v;

		sscanf(h, "%2x", &v);
		*out++ = (unsigned char)v;
		h += 2;
		while (*h == ' ')
			h++;
	}
}

static void vector(const char *pass, const char *salt, uint32_t iter, size_t len, const char *want)
{
	unsigned char got[64], exp[64];

	unhex(want, exp);
	pbkdf2_sha256(pass, strlen(pass), salt, strlen(salt), iter, got, len);
	T_OK(!memcmp(got, exp, len), "PBKDF2-HMAC-SHA256(%s, %s, %u, %zu)", pass, salt, iter, len);
}

/* AES-XTS with plain64 IVs (the sector number, little-endian) over whole
 * sectors, as dm-crypt does it: libcrypto's */
static int xts(int enc, const unsigned char *key, size_t klen, unsigned char *buf, size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char iv[16];
	int n, ok = 1;
	size_t s;

	for (s = 0; s < len / 512 && ok; s++) {
		uint64_t v = s;

		memset(iv, 0, sizeof(iv));
		for (n = 0; n < 8; n++)
			iv[n] = (unsigned char)(v >> (8 * n));
		ok = EVP_CipherInit_ex(c, klen == 64 ? EVP_aes_256_xts() : EVP_aes_128_xts(), NULL, key, iv,
				       enc) &&
		     EVP_CipherUpdate(c, buf + 512 * s, &n, buf + 512 * s, 512) && n == 512;
	}
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

static int have(const char *tool)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return !system(cmd);
}

static int readfile(const char *path, unsigned char *buf, size_t len, off_t off)
{
	int fd = open(path, O_RDONLY);
	ssize_t r = fd < 0 ? -1 : pread(fd, buf, len, off);

	if (fd >= 0)
		close(fd);
	return r == (ssize_t)len ? 0 : -1;
}

/* Whether the text file PATH holds NEEDLE. */
static int file_has(const char *path, const char *needle)
{
	char text[4096] = "";
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

	if (f)
		fclose(f);
	text[n] = 0;
	return strstr(text, needle) != NULL;
}

static unsigned char m[LUKS_KEY_MAX * LUKS_STRIPES_MAX + 512];

static void from_qemu(const char *dir)
{
	char cmd[600], path[300], err[300], why[100];
	unsigned char b[LUKS_PHDR], key[64], mk[64], dg[LUKS_DIGEST];
	struct luks_hdr h;
	size_t len;
	int tries, rc;

	snprintf(path, sizeof(path), "%s/qemu.luks", dir);
	snprintf(cmd, sizeof(cmd),
		 "qemu-img create -q -f luks --object secret,id=s,data=qemu-pass -o key-secret=s,"
		 "cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64,hash-alg=sha256,iter-time=10 %s 4M"
		 " 2>%s/qemu.err",
		 path, dir);
	/*
	 * QEMU 7.2 (bookworm) times PBKDF2 by the thread's CPU time from
	 * getrusage(), which moves in scheduler ticks; when 32768 iterations
	 * finish within one tick it gives up with "Unable to get accurate CPU
	 * usage" (about one try in three on this project's machines). That is
	 * QEMU's measurement, not the header it would write: try again on that
	 * message only, and fail on any other.
	 */
	snprintf(err, sizeof(err), "%s/qemu.err", dir);
	for (tries = 1; (rc = system(cmd)) && tries < 30 && file_has(err, "accurate CPU usage"); tries++)
		;
	if (rc) {
		T_OK(0, "qemu-img create -f luks failed after %d tries (see %s)", tries, err);
		return;
	}
	T_OK(!readfile(path, b, sizeof(b), 0), "reading %s", path);
	T_OK(!luks_parse(b, &h, why, sizeof(why)), "QEMU's header: %s", why);
	T_EQ_STR(h.cipher, "aes");
	T_EQ_STR(h.mode, "xts-plain64");
	T_EQ_INT(h.key_bytes, 64);
	T_OK(h.slot[0].active && !h.slot[1].active, "QEMU's header: slot 0 alone active");
	len = (size_t)luks_slot_sectors(&h, 0) * 512;
	pbkdf2_sha256("qemu-pass", 9, h.slot[0].salt, LUKS_SALT, h.slot[0].iter, key, h.key_bytes);
	T_OK(!readfile(path, m, len, (off_t)h.slot[0].offset * 512) && !xts(0, key, 64, m, len),
	     "QEMU's key slot 0 read and decrypted");
	luks_af_merge(m, h.key_bytes, h.slot[0].stripes, mk);
	luks_mk_digest(&h, mk, dg);
	T_OK(!memcmp(dg, h.mk_digest, LUKS_DIGEST), "QEMU's master key found by our merge and digest");
	pbkdf2_sha256("wrong", 5, h.slot[0].salt, LUKS_SALT, h.slot[0].iter, key, h.key_bytes);
	readfile(path, m, len, (off_t)h.slot[0].offset * 512);
	xts(0, key, 64, m, len);
	luks_af_merge(m, h.key_bytes, h.slot[0].stripes, mk);
	luks_mk_digest(&h, mk, dg);
	T_OK(memcmp(dg, h.mk_digest, LUKS_DIGEST), "a wrong passphrase gives no master key");
}

static void to_readers(const char *dir, int cryptsetup, int qemu)
{
	static unsigned char payload[1 << 20], plain[1 << 20];
	unsigned char mk[64], key[64], b[4096];
	char path[300], cmd[900], out[300];
	struct luks_hdr h;
	size_t len, i;
	int fd, ok;

	memset(&h, 0, sizeof(h));
	strcpy(h.cipher, "aes");
	strcpy(h.mode, "xts-plain64");
	strcpy(h.hash, "sha256");
	strcpy(h.uuid, "0d5e7d8c-5a84-4a3e-9d0c-6c1d2f3e4b5a");
	h.key_bytes = 64;
	luks_layout(&h);
	T_EQ_INT(h.payload, 4096);	/* cryptsetup's for a 512-bit key */
	T_EQ_INT(h.slot[1].offset, 512);
	h.mk_iter = 1000;
	h.slot[0].active = 1;
	h.slot[0].iter = 1000;
	RAND_bytes(mk, sizeof(mk));
	RAND_bytes(h.mk_salt, LUKS_SALT);
	RAND_bytes(h.slot[0].salt, LUKS_SALT);
	luks_mk_digest(&h, mk, h.mk_digest);
	len = (size_t)luks_slot_sectors(&h, 0) * 512;
	memset(m, 0, sizeof(m));
	RAND_bytes(m, 64 * (LUKS_STRIPES - 1));
	luks_af_split(mk, 64, LUKS_STRIPES, m);
	pbkdf2_sha256("our pass", 8, h.slot[0].salt, LUKS_SALT, h.slot[0].iter, key, 64);
	xts(1, key, 64, m, len);
	for (i = 0; i < sizeof(plain); i++)
		plain[i] = (unsigned char)(i * 7 + i / 512);
	memcpy(payload, plain, sizeof(plain));
	xts(1, mk, 64, payload, sizeof(payload));

	snprintf(path, sizeof(path), "%s/ours.luks", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	luks_encode(&h, b);
	ok = fd >= 0 && pwrite(fd, b, LUKS_PHDR, 0) == LUKS_PHDR &&
	     pwrite(fd, m, len, (off_t)h.slot[0].offset * 512) == (ssize_t)len &&
	     pwrite(fd, payload, sizeof(payload), (off_t)h.payload * 512) == (ssize_t)sizeof(payload);
	if (fd >= 0)
		close(fd);
	T_OK(ok, "writing %s", path);

	if (cryptsetup) {
		snprintf(cmd, sizeof(cmd), "cryptsetup luksDump %s | grep -q 'UUID:[[:space:]]*%s'", path, h.uuid);
		T_OK(!system(cmd), "cryptsetup luksDump reads our header");
		snprintf(cmd, sizeof(cmd), "printf %%s 'our pass' | cryptsetup open --test-passphrase --key-file=- %s",
			 path);
		T_OK(!system(cmd), "cryptsetup open --test-passphrase: ours opens with the passphrase");
		snprintf(cmd, sizeof(cmd),
			 "printf %%s 'not ours' | cryptsetup open --test-passphrase --key-file=- %s 2>/dev/null", path);
		T_OK(system(cmd), "cryptsetup open --test-passphrase: not with another");
	} else {
		T_SKIP("cryptsetup not installed (scripts/deps.sh check installs cryptsetup-bin)");
	}
	if (qemu) {
		snprintf(out, sizeof(out), "%s/ours.raw", dir);
		snprintf(cmd, sizeof(cmd),
			 "qemu-img convert --object secret,id=k,data='our pass' --image-opts "
			 "driver=luks,key-secret=k,file.filename=%s -O raw %s",
			 path, out);
		T_OK(!system(cmd), "qemu-img (QEMU's luks driver) opens ours");
		T_OK(!readfile(out, payload, sizeof(payload), 0) && !memcmp(payload, plain, sizeof(plain)),
		     "QEMU decrypts our payload to what we put there");
	} else {
		T_SKIP("qemu-img not installed (scripts/deps.sh check installs qemu-utils)");
	}
}

int main(void)
{
	unsigned char a[64], b[64], key[200], salt[200], pass[200], mk[64], back[64];
	struct hmac_sha256 h;
	char dir[] = "/tmp/test-luks-XXXXXX", cmd[100];
	size_t klen, slen, olen;

	/* RFC 4231, test case 2 */
	unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", b);
	hmac_sha256_init(&h, "Jefe", 4);
	hmac_sha256(&h, "what do ya want for nothing?", 28, a);
	T_OK(!memcmp(a, b, 32), "HMAC-SHA-256, RFC 4231 case 2");
	/* RFC 4231, test case 6: a key longer than the block */
	memset(key, 0xaa, 131);
	unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", b);
	hmac_sha256_init(&h, key, 131);
	hmac_sha256(&h, "Test Using Larger Than Block-Size Key - Hash Key First", 54, a);
	T_OK(!memcmp(a, b, 32), "HMAC-SHA-256, RFC 4231 case 6");

	vector("password", "salt", 1, 32, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
	vector("password", "salt", 2, 32, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
	vector("password", "salt", 4096, 32, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
	vector("passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 40,
	       "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9");
	/* RFC 7914, section 11 */
	vector("passwd", "salt", 1, 64,
	       "55 ac 04 6e 56 e3 08 9f ec 16 91 c2 25 44 b6 05 f9 41 85 21 6d de 04 65 e6 8b 9d 57 c2 0d ac bc"
	       "49 ca 9c cc f1 79 b6 45 99 16 64 b3 9d 77 ef 31 7c 71 b8 45 b1 e3 0b d5 09 11 20 41 d3 a1 97 83");

	/* against libcrypto around the block sizes */
	RAND_bytes(pass, sizeof(pass));
	RAND_bytes(salt, sizeof(salt));
	for (klen = 0; klen <= 130; klen += 13)
		for (slen = 0; slen <= 70; slen += 35)
			for (olen = 1; olen <= 64; olen += 19) {
				pbkdf2_sha256(pass, klen, salt, slen, 3, a, olen);
				PKCS5_PBKDF2_HMAC((const char *)pass, (int)klen, salt, (int)slen, 3, EVP_sha256(),
						  (int)olen, b);
				T_OK(!memcmp(a, b, olen), "PBKDF2 as libcrypto's: key %zu, salt %zu, out %zu", klen,
				     slen, olen);
			}

	/* the splitter, both ways */
	RAND_bytes(mk, sizeof(mk));
	RAND_bytes(m, 64 * (LUKS_STRIPES - 1));
	luks_af_split(mk, 64, LUKS_STRIPES, m);
	luks_af_merge(m, 64, LUKS_STRIPES, back);
	T_OK(!memcmp(mk, back, 64), "AF merge(split(key)) is the key");
	m[12345] ^= 1;
	luks_af_merge(m, 64, LUKS_STRIPES, back);
	T_OK(memcmp(mk, back, 64), "one bit changed in a stripe: another key");
	luks_af_split(mk, 20, 3, m);	/* a short block in the diffusion */
	luks_af_merge(m, 20, 3, back);
	T_OK(!memcmp(mk, back, 20), "AF with 20-byte keys and 3 stripes");

	if (!mkdtemp(dir)) {
		T_OK(0, "mkdtemp");
		return t_done();
	}
	if (have("qemu-img"))
		from_qemu(dir);
	else
		T_SKIP("qemu-img not installed (scripts/deps.sh check installs qemu-utils)");
	to_readers(dir, have("cryptsetup"), have("qemu-img"));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		T_OK(0, "removing %s", dir);
	return t_done();
}
