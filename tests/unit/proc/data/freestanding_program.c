/* A small freestanding AArch64 program with text, read-only data, initialized data and BSS, linked by the
   test build at a fixed address: the ELF loader test's controlled input. */
const char greeting[] = "hello from an ELF segment";
unsigned long counter = 0x1122334455667788ul;
unsigned long zeroed[1024];

void _start(void) {
    zeroed[0] = counter + (unsigned long)greeting[0];
    for (;;)
        __asm__ volatile("wfi");
}
