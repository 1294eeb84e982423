// The first user program: prints a greeting through the kernel's debug print, then its arguments (a
// spawned process gets its command line as argc/argv; one the kernel loads has none).
#include "print.hpp"
#include "syscalls.hpp"

int main(int argc, char** argv) {
    const char text[] = "hello from user space\n";
    if (!aos::sys::debug_print(text, sizeof(text) - 1))
        return 1;
    for (int i = 1; i < argc; ++i)
        aos::sys::print("hello: argument {} of {}: {}\n", i, argc - 1, static_cast<const char*>(argv[i]));
    return 0;
}
