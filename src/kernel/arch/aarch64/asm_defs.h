/* Constants shared by the kernel's assembly and C++ (C++ checks them with static_assert). */
#pragma once

/* arm64 Linux boot protocol Image header (Documentation/arm64/booting.rst): with this header QEMU and
   U-Boot's booti pass the device tree's physical address in x0. */
#define IMAGE_TEXT_OFFSET 0x80000
/* flags: little endian (bit 0 clear), 4 KiB pages (bits 2:1 = 1), 2 MiB-aligned base near RAM start. */
#define IMAGE_FLAGS 0x2
#define IMAGE_MAGIC_STRING "ARM\x64"

/* The kernel's upper-half offset: virtual = physical + KERNEL_VIRT_OFFSET (memory_layout.hpp). */
#define KERNEL_VIRT_OFFSET 0xffff000000000000

/* The early translation tables boot.S builds so the kernel can run at its link address before mmu_init
   builds the real ones with the library: one level-0 table, shared by TTBR0 (identity, for the instruction
   that turns the MMU on) and TTBR1 (the upper half), pointing at one level-1 table of 1 GiB blocks: the
   first GiB as device memory (UART, GIC), the next three as normal memory (the kernel and the device tree
   are in the first GiB of RAM). mmu.cpp checks these values against the library's encodings. */
#define EARLY_MAIR 0x00000000000444ff
/* T0SZ = T1SZ = 16 (48-bit), 4 KiB granules (TG0 0b00, TG1 0b10), inner/outer write-back walks, inner
   shareable; IPS is filled in from ID_AA64MMFR0_EL1.PARange at run time. */
#define EARLY_TCR 0x00000000b5103510
#define EARLY_TCR_IPS_SHIFT 32
#define EARLY_PARANGE_MASK 0x7 /* ID_AA64MMFR0_EL1.PARange values that fit TCR_EL1.IPS */
/* CTR_EL0.DminLine: log2 of the smallest data cache line in words, bits [19:16]. */
#define CTR_DMINLINE_SHIFT 16
#define CTR_DMINLINE_MASK 0xf
#define EARLY_TABLE_DESCRIPTOR 0x3
/* Level-1 blocks: valid block, AF, inner shareable, AttrIndx 0 (normal) or 2 (device); never executable at
   EL0, device never executable at all. */
#define EARLY_BLOCK_NORMAL 0x0040000000000701
#define EARLY_BLOCK_DEVICE 0x0060000000000409
#define EARLY_GIB_SHIFT 30
#define EARLY_NORMAL_GIBS 3
/* SCTLR_EL1 bits the early switch sets: M (MMU), C (data cache), I (instruction cache). */
#define SCTLR_EL1_MMU_CACHES 0x1005

/* CPACR_EL1.FPEN = 0b11: FP/SIMD instructions do not trap at EL0 (nor at EL1, which never uses them). */
#define CPACR_EL1_FPEN_ALL (3 << 20)

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
#define TRAP_FRAME_SP_EL0 (36 * 8)
#define TRAP_FRAME_TPIDR_EL0 (37 * 8)
#define TRAP_FRAME_SIZE (38 * 8)
