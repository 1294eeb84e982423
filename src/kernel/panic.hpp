// Kernel panics: report, then end the run with ExitStatus::panic.
#pragma once

namespace kernel {

[[noreturn]] void panic_at(const char* message, const char* file, int line);

} // namespace kernel

#define KERNEL_PANIC(message) ::kernel::panic_at((message), __FILE__, __LINE__)
