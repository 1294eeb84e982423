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

    adrp    x1, exception_vectors
    add     x1, x1, :lo12:exception_vectors
    msr     vbar_el1, x1
    isb

    mov     x0, x19
    adr     x1, _start                  /* where we actually run, to check against the link address */
    mov     x2, x20
    bl      kernel_main
halt:
    wfe
    b       halt

    .section .bss.stack, "aw", %nobits
    .balign 16
boot_stack:
    .space  KERNEL_STACK_SIZE
boot_stack_top:
