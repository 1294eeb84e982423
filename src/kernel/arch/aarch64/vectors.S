/* The exception vector table: sixteen entries that save a TrapFrame and call handle_exception(index, frame). */
#include "asm_defs.h"

    .macro vector_entry index
    .balign 0x80
    sub     sp, sp, #TRAP_FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x0, #\index
    b       trap_common
    .endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global exception_vectors
exception_vectors:
    vector_entry 0
    vector_entry 1
    vector_entry 2
    vector_entry 3
    vector_entry 4
    vector_entry 5
    vector_entry 6
    vector_entry 7
    vector_entry 8
    vector_entry 9
    vector_entry 10
    vector_entry 11
    vector_entry 12
    vector_entry 13
    vector_entry 14
    vector_entry 15

trap_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    add     x2, sp, #TRAP_FRAME_SIZE    /* the interrupted SP (same-EL traps) */
    stp     x30, x2, [sp, #TRAP_FRAME_X30]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #TRAP_FRAME_ELR]
    mrs     x2, esr_el1
    mrs     x3, far_el1
    stp     x2, x3, [sp, #TRAP_FRAME_ESR]
    mrs     x2, sp_el0
    mrs     x3, tpidr_el0
    stp     x2, x3, [sp, #TRAP_FRAME_SP_EL0]
    mov     x1, sp
    bl      handle_exception

    /* A handled exception resumes where it was taken, with the frame as the handler left it (a switch to
       another dispatcher replaces the whole frame). enter_user jumps here with SP at a prepared frame. */
    .global exception_return
exception_return:
    ldp     x2, x3, [sp, #TRAP_FRAME_SP_EL0]
    msr     sp_el0, x2
    msr     tpidr_el0, x3
    ldp     x2, x3, [sp, #TRAP_FRAME_ELR]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #TRAP_FRAME_X30]
    add     sp, sp, #TRAP_FRAME_SIZE
    eret
