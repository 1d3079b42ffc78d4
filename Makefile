# mklive — build a bootable live CD/USB image from a Linux root tree.
#
#   make              build/mklive (the builder) and build/mklive-init (the static init)
#   make check        install test dependencies, build, fetch the boot pieces, run every test
#   make demo         fetch a Debian kernel + busybox, build out/demo.iso, boot it in QEMU
#   make debian-demo  a Debian 12 live ISO from Debian's packages (mmdebstrap): out/debian-live.iso
#   make fuzz         run every fuzz harness for FUZZ_SECONDS (default 60)
#   make install      PREFIX=/usr/local DESTDIR=
#
# Sources are found by wildcard: a new file in src/<layer>/ needs no edit here.

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/lib/mklive
MANDIR    ?= $(PREFIX)/share/man
DESTDIR   ?=

# Out-of-tree builds: make BUILDDIR=/tmp/b (tests/cli/compilers.sh builds with
# gcc and clang side by side this way).
BUILDDIR  ?= build
CC        ?= cc
MUSLCC    ?= musl-gcc
PKG_CONFIG ?= pkg-config
PKGS      := libsquashfs1 libisofs-1 libarchive libzstd liblzma liblz4 zlib ext2fs libcrypto

WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
# gcc only (clang has no such warning, and -Werror makes the unknown option fatal).
WARN      += $(shell $(CC) -Werror -Wformat-truncation -fsyntax-only -x c /dev/null 2>/dev/null && \
               echo -Wno-format-truncation)
CFLAGS    ?= -O2 -g
ifeq ($(WERROR),1)
WARN      += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS    += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
endif
DEPCFLAGS  = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEPLIBS    = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread -lm
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
             -DMKLIVE_LIBEXECDIR='"$(LIBEXECDIR)"' -Isrc $(DEPCFLAGS) -MMD -MP

LIB_SRC   := $(sort $(wildcard src/tree/*.c src/codec/*.c src/source/*.c src/fmt/*.c src/pipeline/*.c))
# Real-mode boot code (the boot floppy's loader), assembled into the library as data.
LIB_ASM   := $(sort $(wildcard src/fmt/*.S))
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
INIT_SRC  := $(sort $(wildcard src/init/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test-*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILDDIR)/obj/%.o) $(LIB_ASM:%.S=$(BUILDDIR)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILDDIR)/obj/%.o)
CLI_LIBOBJ := $(filter-out $(BUILDDIR)/obj/src/cli/main.o,$(CLI_OBJ))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILDDIR)/tests/%)

# The static programs: size first. noseparate-code puts the headers, code and
# read-only data in one segment (each on its own page cost 8 KB of padding);
# norelro drops the page alignment RELRO wants (3 KB), which only a dynamic
# loader applies: in a static musl program nothing makes that page read-only;
# a small common-page-size keeps ld from starting the data on a page of its
# own in the file (up to 4 KB more). A static program is loaded at a fixed
# address: -fno-pie lets the code name addresses as 32-bit constants
# (1.3 KB of the init), and -flto lets gcc drop and inline across files
# (0.9 KB more): room for the live user (live.c) under 64 KiB.
INIT_CFLAGS := -std=gnu11 -Os -static -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE \
               -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables \
               -fno-stack-protector -fno-pie -no-pie -flto -Wl,--gc-sections \
               -Wl,-z,noseparate-code -Wl,-z,norelro -Wl,-z,common-page-size=64 -s
ifeq ($(WERROR),1)
INIT_CFLAGS += -Werror
endif

all: $(BUILDDIR)/mklive $(BUILDDIR)/mklive-init $(BUILDDIR)/mklive-media $(BUILDDIR)/mklive-helper

# On a machine without the build dependencies, say which Debian packages are
# missing and how to get them, instead of a compiler error. (Only where
# dpkg is; the targets that install them, or need nothing, skip the check.)
NODEPS_GOALS := deps check demo debian-demo fuzz clean print-cflags
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell command -v dpkg-query),)
MISSING := $(shell scripts/deps.sh missing build)
ifneq ($(MISSING),)
$(error missing Debian packages: $(MISSING). Run 'make deps' (as root, or with sudo) to install them, or 'make demo' / 'make check', which install what they need)
endif
endif
endif

deps:
	@scripts/deps.sh build

$(BUILDDIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILDDIR)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(BUILDDIR)/libmklive.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILDDIR)/mklive: $(CLI_OBJ) $(BUILDDIR)/libmklive.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILDDIR)/libmklive.a $(DEPLIBS)

# The init shares files with the library and mklive-media: cloop's layout,
# SHA-256, and the superblock reader (persistence labels).
INIT_SHARED := src/fmt/sha256.c src/media/probe.c
$(BUILDDIR)/mklive-init: $(INIT_SRC) $(INIT_SHARED) $(wildcard src/init/*.h) src/fmt/cloop_format.h src/fmt/live.h src/fmt/sha256.h src/media/media.h
	@mkdir -p $(dir $@)
	$(MUSLCC) $(INIT_CFLAGS) -o $@ $(INIT_SRC) $(INIT_SHARED)

# The program map behind /media/list, static like the init (it runs in the
# live system, whatever its libc).
MEDIA_SRC := $(sort $(wildcard src/media/*.c))
$(BUILDDIR)/mklive-media: $(MEDIA_SRC) src/media/media.h
	@mkdir -p $(dir $@)
	$(MUSLCC) $(INIT_CFLAGS) -o $@ $(MEDIA_SRC)

# The init's helper (persistence made at first boot, ...), run by the init
# from the initramfs: static, and apart so the init stays small.
# findiso shares mklive-media's superblock reader, luks the init's SHA-256.
HELPER_SRC := $(sort $(wildcard src/helper/*.c)) src/media/probe.c
$(BUILDDIR)/mklive-helper: $(HELPER_SRC) src/helper/helper.h src/media/media.h src/init/loopdev.h src/fmt/sha256.c src/fmt/sha256.h
	@mkdir -p $(dir $@)
	$(MUSLCC) $(INIT_CFLAGS) -o $@ $(HELPER_SRC) src/fmt/sha256.c

$(BUILDDIR)/tests/%: tests/unit/%.c tests/unit/t.h $(CLI_LIBOBJ) $(BUILDDIR)/libmklive.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(CLI_LIBOBJ) $(BUILDDIR)/libmklive.a $(DEPLIBS)

unit: $(UNIT_BIN)

# Under SANITIZE=1 the boot tests are skipped: they boot the static musl
# init, which is not sanitized, and QEMU time would tell nothing more.
# Before the tests: the boot pieces and Debian's signed shim and GRUB in
# mklive's cache (scripts/fetch-boot.sh, mklive fetch-efi: apt-get download,
# nothing installed), where every build that boots UEFI finds them.
check:
	@scripts/deps.sh check
	@$(MAKE) --no-print-directory all unit
	@scripts/fetch-boot.sh >/dev/null
	@$(if $(filter 1,$(SANITIZE)),MKLIVE_SKIP_BOOT=1 )tests/run.sh

check-fast:
	@$(MAKE) --no-print-directory all unit
	@scripts/fetch-boot.sh >/dev/null
	@MKLIVE_SKIP_BOOT=1 tests/run.sh

# libFuzzer harnesses (tests/fuzz/), FUZZ_SECONDS each; make check runs a
# short round through tests/cli/fuzz.sh.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh check
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# The Debian example: a Debian 12 live ISO from Debian's packages
# (mmdebstrap), see examples/debian/build.sh.
debian-demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory all
	@mkdir -p out && examples/debian/build.sh out/debian-live.iso
	@echo "Try it: $(BUILDDIR)/mklive test out/debian-live.iso   (or qemu-system-x86_64 -m 1024 -cdrom out/debian-live.iso)"

demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILDDIR)/mklive $(DESTDIR)$(BINDIR)/mklive
	install -m 0755 $(BUILDDIR)/mklive-init $(DESTDIR)$(LIBEXECDIR)/mklive-init
	install -m 0755 $(BUILDDIR)/mklive-media $(DESTDIR)$(LIBEXECDIR)/mklive-media
	install -m 0755 $(BUILDDIR)/mklive-helper $(DESTDIR)$(LIBEXECDIR)/mklive-helper
	install -m 0644 docs/mklive.1 $(DESTDIR)$(MANDIR)/man1/mklive.1
	install -m 0644 docs/mklive.conf.5 $(DESTDIR)$(MANDIR)/man5/mklive.conf.5
	install -m 0644 docs/mklive-init.7 $(DESTDIR)$(MANDIR)/man7/mklive-init.7
	install -m 0644 docs/mklive-media.8 $(DESTDIR)$(MANDIR)/man8/mklive-media.8

clean:
	rm -rf $(BUILDDIR) out

# The compiler flags, for tools that parse the sources (tests/cli/compilers.sh).
print-cflags:
	@echo $(filter-out -MMD -MP,$(ALL_CFLAGS))

.PHONY: all deps unit check check-fast fuzz demo debian-demo install clean print-cflags
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
