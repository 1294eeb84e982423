/* User program entry: the kernel starts a program here with its stack set up and x0 = the bootinfo page's
   address for init, the arguments page's for a spawned child (0 otherwise); the runtime keeps it, runs
   static constructors, calls main(argc, argv) and exits with its status. */
    .section .text.start, "ax"
    .global _start
_start:
    mov     x29, xzr                    /* the outermost frame: backtraces stop here */
    mov     x30, xzr
    bl      aos_runtime_init            /* x0 passes through */
    bl      aos_runtime_arguments       /* x0 = argc, x1 = argv (from an arguments page, or 0 and an empty list) */
    bl      main
    bl      aos_exit
1:  b       1b
