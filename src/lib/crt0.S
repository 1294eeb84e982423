/* User program entry: the kernel starts a program here with its stack set up and x0 = the bootinfo or
   arguments page (0 when none); run static constructors, call main, exit with its status. */
    .section .text.start, "ax"
    .global _start
_start:
    mov     x29, xzr                    /* the outermost frame: backtraces stop here */
    mov     x30, xzr
    mov     x19, x0
    bl      aos_runtime_init
    mov     x0, x19
    bl      main
    bl      aos_exit
1:  b       1b
