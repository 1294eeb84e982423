// The kernel's side of the library's hooks: log to the console, panic through the kernel's panic.
#include "../console.hpp"
#include "../panic.hpp"

#include <aos/core/hooks.hpp>

extern "C" void aos_hook_log(const char* message) {
    kernel::console_write(message);
    kernel::console_write("\n");
}

extern "C" void aos_hook_panic(const char* message, const char* file, int line) {
    kernel::panic_at(message, file, line);
}
