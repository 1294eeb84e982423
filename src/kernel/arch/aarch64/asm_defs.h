/* Constants shared by the kernel's assembly and C++ (C++ checks them with static_assert). */
#pragma once

/* arm64 Linux boot protocol Image header (Documentation/arm64/booting.rst): with this header QEMU and
   U-Boot's booti pass the device tree's physical address in x0. */
#define IMAGE_TEXT_OFFSET 0x80000
/* flags: little endian (bit 0 clear), 4 KiB pages (bits 2:1 = 1), 2 MiB-aligned base near RAM start. */
#define IMAGE_FLAGS 0x2
#define IMAGE_MAGIC_STRING "ARM\x64"

/* Per-core boot stack. */
#define KERNEL_STACK_SIZE 0x4000

/* SCTLR_EL1 with only its RES1 bits set: MMU, caches and alignment checks off until the kernel enables them. */
#define SCTLR_EL1_RES1 0x30d00800
/* HCR_EL2.RW: EL1 runs in AArch64. */
#define HCR_EL2_RW (1 << 31)
/* CNTHCTL_EL2.EL1PCTEN | EL1PCEN: EL1 may use the physical counter and timer. */
#define CNTHCTL_EL2_EL1_TIMER_ACCESS 0x3
/* SPSR for an exception return to EL1h with D, A, I and F masked. */
#define SPSR_EL1H_MASKED 0x3c5
#define CURRENT_EL_EL2 (2 << 2)

/* TrapFrame layout (src/kernel/arch/aarch64/trap_frame.hpp). */
#define TRAP_FRAME_X30 (30 * 8)
#define TRAP_FRAME_SP (31 * 8)
#define TRAP_FRAME_ELR (32 * 8)
#define TRAP_FRAME_SPSR (33 * 8)
#define TRAP_FRAME_ESR (34 * 8)
#define TRAP_FRAME_FAR (35 * 8)
#define TRAP_FRAME_SIZE (36 * 8)
