// Kernel panics: report, then end the run with ExitStatus::panic.
#include "panic.hpp"

#include "console.hpp"
#include "power.hpp"

namespace kernel {

namespace {
constinit bool panicking = false;
}

void panic_at(const char* message, const char* file, int line) {
    __asm__ volatile("msr daifset, #0xf");
    if (panicking)
        halt_core(); // a panic while reporting one: the console itself may be what broke
    panicking = true;
    print("\n*** kernel panic: {}\n    at {}:{}\n", message, file, line);
    shutdown(ExitStatus::panic);
}

} // namespace kernel
