// A program that dereferences the null page: the kernel must stop it, report it, and keep the others running.
#include "syscalls.hpp"

int main() {
    const char before[] = "fault: about to read address 0\n";
    (void)aos::sys::debug_print(before, sizeof(before) - 1);
    volatile int* null_page = nullptr;
    return *null_page;
}
