/* The boot loader of mklive's legacy boot floppy (see floppy.h).
 *
 * Real-mode x86 code, assembled into the library as data: the bytes from
 * mkl_floppy_loader to mkl_floppy_loader_end are the reserved sectors of
 * the FAT12 floppy image. Every absolute address is ORG-relative (A()), so
 * the code runs where the BIOS puts a boot sector, 0000:7C00.
 *
 * Like the map installers of old (LILO), it does not read the file system:
 * the writer lays the kernel and the initrd out contiguously and patches
 * their first sector and size into the parameter block (sector 1). So the
 * loader is the boot sector plus two more sectors, and all it does is:
 *
 *   sector 0   boot sector: BPB (the FAT writer's), read sectors 1.. to
 *              0000:7E00 with INT 13h, jump there
 *   sector 1   parameter block: magic, kernel and initrd place and size,
 *              the kernel command line
 *   sector 2.. Linux x86 boot protocol, 16-bit entry (Documentation/arch/
 *              x86/boot.rst): real-mode kernel to 1000:0000, protected-mode
 *              kernel to 1 MiB, initrd to the top of the memory that holds
 *              1 MiB (as other loaders do), header fields, jump to 1020:0000
 *
 * Sectors are read track by track (CHS from the BPB's geometry, which on an
 * El Torito floppy emulation or a real 1.44 MB drive is 18/2) into a
 * buffer at 2000:0000, which no read crosses a 64 KiB boundary in, then
 * copied to their place with INT 15h AH=87h, which reaches above 1 MiB.
 *
 * Memory: 0000:7C00 this code, stack below it; 1000:0000 real-mode kernel,
 * its heap up to 1000:DE00, command line at 1000:E000; 2000:0000 the
 * track buffer; 0x100000 the protected-mode kernel.
 */
#define ORG		0x7c00
#define A(x)		((x) - mkl_floppy_loader + ORG)
#define RM_SEG		0x1000		/* real-mode kernel */
#define RM_LIN		0x10000
#define HEAP_END	0xde00		/* offset in RM_SEG, heap_end_ptr */
#define CMDLINE_OFF	0xe000		/* offset in RM_SEG */
#define BUF_SEG		0x2000		/* track buffer */
#define BUF_LIN		0x20000
#define PM_LIN		0x100000	/* protected-mode kernel */
#define CMDLINE_MAX	1024		/* bytes with the NUL; see floppy.c */
#define SMAP		0x534d4150	/* "SMAP" */

	.section .rodata.mkl_floppy_loader, "a", @progbits
	.globl mkl_floppy_loader
	.globl mkl_floppy_loader_end
	.code16

mkl_floppy_loader:
	.byte 0xeb, start - mkl_floppy_loader - 2, 0x90	/* jmp short start; nop */
	.fill 59, 1, 0			/* OEM name and BPB: the FAT writer's */

start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $ORG, %sp
	sti
	cld
	ljmp $0, $A(1f)			/* CS:IP = 0000:7Cxx, whatever the BIOS used */
1:	movb %dl, A(drive)
	movw $A(msg_hello), %si
	call puts
	movw $3, %di			/* tries */
2:	movw $(0x0200 + (mkl_floppy_loader_end - params) / 512), %ax
	movw $0x0002, %cx		/* cylinder 0, sector 2 */
	xorb %dh, %dh			/* head 0 */
	movb A(drive), %dl
	movw $0x7e00, %bx
	int $0x13
	jnc stage2
	xorb %ah, %ah			/* reset the drive, try again */
	movb A(drive), %dl
	int $0x13
	decw %di
	jnz 2b
	/* fall through */
read_error:
	movw $A(msg_read), %si
	/* fall through */

/* Print the message at SI, wait for a key, try the next boot device. */
fail:
	call puts
	movw $A(msg_key), %si
	call puts
	xorb %ah, %ah
	int $0x16
	int $0x18
3:	hlt
	jmp 3b

/* Print the NUL-terminated string at DS:SI with the BIOS. */
puts:
	lodsb
	testb %al, %al
	jz 1f
	movb $0x0e, %ah
	movw $0x0007, %bx
	int $0x10
	jmp puts
1:	ret

drive:		.byte 0
msg_hello:	.asciz "mklive boot floppy"
msg_read:	.asciz "\r\nmklive: cannot read the floppy"
msg_key:	.asciz "\r\nPress a key to try the next boot device.\r\n"

	.org 510
	.byte 0x55, 0xaa

/* Sector 1: the parameter block, filled by floppy.c (offsets there). */
params:
	.ascii "MKLFLOP1"
kernel_lba:	.long 0
kernel_size:	.long 0
initrd_lba:	.long 0
initrd_size:	.long 0
cmdline:	.fill CMDLINE_MAX, 1, 0

/* Sector 3 on: the loader proper. */
stage2:
	movw $A(msg_kernel), %si
	call puts
	cmpl $0x464c4b4d, A(params)	/* "MKLF" */
	jne no_params
	cmpl $0, A(kernel_size)
	je no_params

	/* The first sector of the kernel: its boot sector, where the header
	 * begins with the count of setup sectors after it. */
	movl A(kernel_lba), %eax
	movw $1, %cx
	movl $RM_LIN, %edi
	call read_lin
	movw $RM_SEG, %ax
	movw %ax, %fs
	cmpw $0xaa55, %fs:0x1fe		/* boot_flag */
	jne not_bzimage
	movzbw %fs:0x1f1, %cx		/* setup_sects; 0 means 4 */
	testw %cx, %cx
	jnz 1f
	movw $4, %cx
1:	cmpw $((HEAP_END - 0x200) / 512), %cx
	ja not_bzimage
	movw %cx, A(setup_sects)

	/* The rest of the real-mode kernel, with the rest of the header. */
	movl A(kernel_lba), %eax
	incl %eax
	movl $(RM_LIN + 512), %edi
	call read_lin
	cmpl $0x53726448, %fs:0x202	/* "HdrS" */
	jne not_bzimage
	cmpw $0x0202, %fs:0x206		/* command line pointer: 2.02 */
	jb not_bzimage
	testb $1, %fs:0x211		/* LOADED_HIGH: a bzImage */
	jz not_bzimage

	/* The protected-mode kernel: every sector after the setup ones. */
	movl A(kernel_size), %ecx
	addl $511, %ecx
	shrl $9, %ecx
	movzwl A(setup_sects), %eax
	incl %eax
	subl %eax, %ecx
	jbe not_bzimage
	movl %ecx, A(pm_sectors)
	addl A(kernel_lba), %eax
	movl $PM_LIN, %edi
	call read_lin

	/* The initrd, at the top of the memory that holds 1 MiB (below
	 * initrd_addr_max), 4 KiB aligned. */
	cmpl $0, A(initrd_size)
	je 3f
	movw $A(msg_initrd), %si
	call puts
	call mem_top			/* EAX: end of that memory */
	movl $0x37ffffff, %edx		/* before 2.03 */
	cmpw $0x0203, %fs:0x206
	jb 1f
	movl %fs:0x22c, %edx		/* initrd_addr_max: last byte */
1:	cmpl $0xffffffff, %edx
	je 2f
	incl %edx
	cmpl %edx, %eax
	jbe 2f
	movl %edx, %eax
2:	subl A(initrd_size), %eax
	jb no_memory
	andl $0xfffff000, %eax
	movl A(pm_sectors), %edx	/* above the kernel at least */
	shll $9, %edx
	addl $PM_LIN, %edx
	cmpl %edx, %eax
	jb no_memory
	movl %eax, %fs:0x218		/* ramdisk_image */
	movl A(initrd_size), %ecx
	movl %ecx, %fs:0x21c		/* ramdisk_size */
	movl %eax, %edi
	addl $511, %ecx
	shrl $9, %ecx
	movl A(initrd_lba), %eax
	call read_lin

	/* The command line, and what the header wants from a loader. */
3:	movw $A(cmdline), %si
	movw $RM_SEG, %ax
	movw %ax, %es
	movw $CMDLINE_OFF, %di
	movw $CMDLINE_MAX, %cx
	rep movsb
	movb $0, %es:(CMDLINE_OFF + CMDLINE_MAX - 1)
	movl $(RM_LIN + CMDLINE_OFF), %fs:0x228	/* cmd_line_ptr */
	movb $0xff, %fs:0x210		/* type_of_loader: not registered */
	orb $0x80, %fs:0x211		/* CAN_USE_HEAP */
	movw $HEAP_END, %fs:0x224	/* heap_end_ptr */
	movw $A(msg_boot), %si
	call puts

	/* A real floppy drive: stop its motor, as the kernel will not. */
	cmpb $0x80, A(drive)
	jae 4f
	movw $0x3f2, %dx
	xorb %al, %al
	outb %al, %dx
4:	cli
	movw $RM_SEG, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movw $CMDLINE_OFF, %sp
	ljmp $(RM_SEG + 0x20), $0

no_params:
	movw $A(msg_params), %si
	jmp fail
not_bzimage:
	movw $A(msg_bzimage), %si
	jmp fail
no_memory:
	movw $A(msg_memory), %si
	jmp fail

/* Read CX sectors from EAX (LBA) to the linear address EDI. Prints a dot
 * every 64 KiB. Does not return on a read error. */
read_lin:
	movl %eax, A(cur_lba)
	movw %cx, A(left)
	movl %edi, A(dest)
1:	cmpw $0, A(left)
	je 9f
	/* CHS: sector index in the track, then head and cylinder. */
	movl A(cur_lba), %eax
	xorl %edx, %edx
	movzwl (ORG + 24), %ebx	/* BPB: sectors per track */
	divl %ebx			/* EAX track, EDX sector index */
	movw %bx, %cx
	subw %dx, %cx			/* sectors to the end of the track */
	cmpw A(left), %cx
	jbe 2f
	movw A(left), %cx
2:	movw %cx, A(count)
	incw %dx
	movb %dl, A(sector)
	xorl %edx, %edx
	movzwl (ORG + 26), %ebx	/* BPB: heads */
	divl %ebx			/* EAX cylinder, EDX head */
	movb %dl, %dh
	movb %al, %ch
	movb A(sector), %cl
	shlb $6, %ah			/* cylinder bits 8..9 into CL 6..7 */
	orb %ah, %cl
	movw $3, %di			/* tries */
3:	pushw %cx
	pushw %dx
	movw $BUF_SEG, %ax
	movw %ax, %es
	xorw %bx, %bx
	movb $0x02, %ah
	movb A(count), %al
	movb A(drive), %dl
	int $0x13
	popw %dx
	popw %cx
	jnc 4f
	xorb %ah, %ah
	movb A(drive), %dl
	int $0x13
	decw %di
	jnz 3b
	jmp read_error
4:	/* Copy the track's sectors to their place. */
	xorw %ax, %ax
	movw %ax, %es
	movl A(dest), %eax
	movw %ax, A(gdt_dst) + 2
	shrl $16, %eax
	movb %al, A(gdt_dst) + 4
	movb %ah, A(gdt_dst) + 7
	movw A(count), %cx
	shlw $8, %cx			/* words */
	movw $A(gdt), %si
	movb $0x87, %ah
	int $0x15
	jc read_error
	movzwl A(count), %eax
	addl %eax, A(cur_lba)
	subw %ax, A(left)
	shll $9, %eax
	addl %eax, A(dest)
	shrl $9, %eax
	addw %ax, A(dots)		/* a dot every 128 sectors */
	cmpw $128, A(dots)
	jb 1b
	subw $128, A(dots)
	movw $A(msg_dot), %si
	call puts
	jmp 1b
9:	ret

/* EAX: the end of the usable memory that holds 1 MiB (INT 15h E820;
 * E801 or 88h when the BIOS lacks it), at most 4 GiB - 4 KiB. */
mem_top:
	xorl %ebx, %ebx
	xorl %esi, %esi
1:	movl $0xe820, %eax
	movl $20, %ecx
	movl $SMAP, %edx
	movw $A(e820), %di
	int $0x15
	jc 5f
	cmpl $SMAP, %eax
	jne 5f
	cmpl $1, A(e820) + 16		/* usable RAM */
	jne 4f
	cmpl $0, A(e820) + 4		/* starts below 4 GiB */
	jne 4f
	movl A(e820), %eax
	cmpl $PM_LIN, %eax
	ja 4f				/* starts above 1 MiB */
	addl A(e820) + 8, %eax
	jc 3f
	cmpl $0, A(e820) + 12
	jne 3f
	cmpl $PM_LIN, %eax
	jbe 4f				/* ends at or below 1 MiB */
	movl %eax, %esi
	jmp 4f
3:	movl $0xfffff000, %esi
4:	testl %ebx, %ebx
	jnz 1b
5:	testl %esi, %esi
	jnz 8f
	movw $0xe801, %ax
	xorw %bx, %bx
	xorw %cx, %cx
	xorw %dx, %dx
	int $0x15
	jc 7f
	testw %ax, %ax			/* some BIOSes answer in CX, DX */
	jnz 6f
	movw %cx, %ax
	movw %dx, %bx
6:	movzwl %bx, %esi
	testl %esi, %esi
	jz 6f
	shll $16, %esi
	addl $0x1000000, %esi
	jmp 8f
6:	movzwl %ax, %esi
	shll $10, %esi
	addl $PM_LIN, %esi
	jmp 8f
7:	movb $0x88, %ah
	int $0x15
	movzwl %ax, %esi
	shll $10, %esi
	addl $PM_LIN, %esi
8:	movl %esi, %eax
	ret

/* INT 15h AH=87h descriptor table: two unused, source, destination, two
 * for the BIOS. Segments of 64 KiB, data, writable. */
	.balign 8
gdt:		.quad 0, 0
gdt_src:	.word 0xffff, BUF_LIN & 0xffff
		.byte BUF_LIN >> 16, 0x93, 0, 0
gdt_dst:	.word 0xffff, 0
		.byte 0, 0x93, 0, 0
		.quad 0, 0

e820:		.fill 20, 1, 0
cur_lba:	.long 0
dest:		.long 0
pm_sectors:	.long 0
left:		.word 0
count:		.word 0
dots:		.word 0
setup_sects:	.word 0
sector:		.byte 0

msg_kernel:	.asciz ": loading the kernel"
msg_initrd:	.asciz " initrd"
msg_boot:	.asciz " booting\r\n"
msg_dot:	.asciz "."
msg_params:	.asciz "\r\nmklive: this floppy has no kernel; write it with mklive floppy"
msg_bzimage:	.asciz "\r\nmklive: the kernel is not a bzImage this loader can start"
msg_memory:	.asciz "\r\nmklive: not enough memory for the initrd"

	.balign 512, 0
mkl_floppy_loader_end:

	.section .note.GNU-stack, "", @progbits
