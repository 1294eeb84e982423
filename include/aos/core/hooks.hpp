// The library's only coupling to its embedder: a panic and a log function that the kernel, init and the
// hosted tests each define. The library never includes an OS header.
//
//   extern "C" void aos_hook_log(const char* message) { uart_write(message); }
//   extern "C" [[noreturn]] void aos_hook_panic(const char* msg, const char* file, int line) { ... halt ... }
#pragma once

extern "C" {
// Called on a broken precondition the library cannot report as an error value (an invariant violated,
// `Result::value()` on an error). Must not return.
[[noreturn]] void aos_hook_panic(const char* message, const char* file, int line);
// Diagnostic output, one message (no trailing newline needed). May drop output; must not fail.
void aos_hook_log(const char* message);
}

namespace aos::core {

[[noreturn]] inline void panic(const char* message, const char* file = __builtin_FILE(),
                               int line = __builtin_LINE()) {
    aos_hook_panic(message, file, line);
}

} // namespace aos::core

// Checks a condition that only a bug can make false; the message is the condition's text.
#define AOS_ASSERT(cond)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) [[unlikely]]                                                                            \
            ::aos_hook_panic("assertion failed: " #cond, __FILE__, __LINE__);                                \
    } while (false)
