// Kernel panics: report, then end the run with ExitStatus::panic.
#include "panic.hpp"

#include "backtrace.hpp"
#include "console.hpp"
#include "power.hpp"

#include <cstdint>

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
    // Start at our caller: our own frame record holds its frame pointer and the return address into it.
    const auto* own_frame = static_cast<const std::uint64_t*>(__builtin_frame_address(0));
    print_backtrace(own_frame[1] - 4, own_frame[0]);
    shutdown(ExitStatus::panic);
}

} // namespace kernel
