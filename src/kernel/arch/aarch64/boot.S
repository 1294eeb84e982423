/* Kernel entry on the boot core: Image header, drop from EL2 if entered there, stack, BSS, vectors. */
#include "asm_defs.h"

    .section .text.boot, "ax"
    .global _start
_start:
    b       primary_entry               /* code0 */
    .long   0                           /* code1 */
    .quad   IMAGE_TEXT_OFFSET           /* text_offset */
    .quad   __kernel_image_size         /* image_size, including BSS */
    .quad   IMAGE_FLAGS
    .quad   0, 0, 0                     /* reserved */
    .ascii  IMAGE_MAGIC_STRING
    .long   0                           /* no PE/COFF header */

primary_entry:
    mov     x19, x0                     /* x0: the device tree's physical address; keep it */
    ldr     x1, =SCTLR_EL1_RES1
    msr     sctlr_el1, x1
    mrs     x20, CurrentEL              /* the level we were entered at, for the banner */
    cmp     x20, #CURRENT_EL_EL2
    b.ne    in_el1

    /* Entered at EL2 (-M virt,virtualization=on): let EL1 own the machine. */
    mov     x1, #HCR_EL2_RW
    msr     hcr_el2, x1
    mov     x1, #CNTHCTL_EL2_EL1_TIMER_ACCESS
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    mov     x1, #SPSR_EL1H_MASKED
    msr     spsr_el2, x1
    adr     x1, in_el1
    msr     elr_el2, x1
    eret

in_el1:
    adrp    x1, boot_stack_top
    add     x1, x1, :lo12:boot_stack_top
    mov     sp, x1

    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
clear_bss:
    cmp     x1, x2
    b.hs    bss_clear
    str     xzr, [x1], #8
    b       clear_bss
bss_clear:

    bl      build_early_tables
    bl      enable_early_mmu
    ldr     x1, =upper_half             /* an absolute address: the link address in the upper half */
    br      x1
upper_half:
    ldr     x1, =boot_stack_top
    mov     sp, x1
    mov     x1, #CPACR_EL1_FPEN_ALL
    msr     cpacr_el1, x1
    ldr     x1, =exception_vectors
    msr     vbar_el1, x1
    isb

    mov     x0, x19                     /* physical address of the device tree */
    adrp    x1, _start                  /* where the image runs, to check against the link address */
    ldr     x3, =KERNEL_VIRT_OFFSET
    sub     x1, x1, x3                  /* ... as a physical address */
    mov     x2, x20
    bl      kernel_main
halt:
    wfe
    b       halt

/* Fills early_l0 and early_l1 (physical addresses: the MMU is still off). Clobbers x1-x6. */
build_early_tables:
    adrp    x1, early_l0
    adrp    x2, early_l1
    orr     x3, x2, #EARLY_TABLE_DESCRIPTOR
    str     x3, [x1]                    /* L0[0] -> L1, for TTBR0 and TTBR1 alike */
    ldr     x3, =EARLY_BLOCK_DEVICE
    str     x3, [x2]                    /* L1[0]: the first GiB, devices */
    ldr     x3, =EARLY_BLOCK_NORMAL
    mov     x4, #1
1:  lsl     x5, x4, #EARLY_GIB_SHIFT
    orr     x5, x5, x3
    str     x5, [x2, x4, lsl #3]        /* L1[n]: GiB n, normal memory */
    add     x4, x4, #1
    cmp     x4, #EARLY_NORMAL_GIBS
    b.ls    1b
    /* The walker reads through the caches once they are on: drop any stale lines for the tables. */
    mrs     x3, ctr_el0
    ubfx    x3, x3, #CTR_DMINLINE_SHIFT, #4
    mov     x4, #4
    lsl     x4, x4, x3                  /* line size in bytes */
    add     x6, x1, #8192               /* early_l0 and early_l1 are adjacent */
2:  dc      ivac, x1
    add     x1, x1, x4
    cmp     x1, x6
    b.lo    2b
    dsb     sy
    ret

/* Turns the MMU on with the early tables; returns still running at the physical (identity) address. */
enable_early_mmu:
    ldr     x1, =EARLY_MAIR
    msr     mair_el1, x1
    ldr     x1, =EARLY_TCR
    mrs     x2, id_aa64mmfr0_el1
    and     x2, x2, #EARLY_PARANGE_MASK
    orr     x1, x1, x2, lsl #EARLY_TCR_IPS_SHIFT
    msr     tcr_el1, x1
    adrp    x1, early_l0
    msr     ttbr0_el1, x1
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mrs     x1, sctlr_el1
    ldr     x2, =SCTLR_EL1_MMU_CACHES
    orr     x1, x1, x2
    msr     sctlr_el1, x1
    isb
    ret

    .section .bss.early_tables, "aw", %nobits
    .balign 4096
    .global early_l0
early_l0:
    .space  4096
early_l1:
    .space  4096

    .section .bss.stack, "aw", %nobits
    .balign 16
    .global boot_stack_top
boot_stack:
    .space  KERNEL_STACK_SIZE
boot_stack_top:

/* Leaves the kernel for a dispatcher: x0 points at a TrapFrame placed at the top of the kernel stack, which
   exception_return loads before its eret; the next exception from EL0 starts on an empty stack again. */
    .text
    .global enter_user
enter_user:
    mov     sp, x0
    b       exception_return
