// The first user program: prints a greeting through the kernel's debug print and exits.
#include "syscalls.hpp"

int main() {
    const char text[] = "hello from user space\n";
    return aos::sys::debug_print(text, sizeof(text) - 1) ? 0 : 1;
}
