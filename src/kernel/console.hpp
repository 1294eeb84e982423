// The kernel console: formatted output to the boot UART, serialized across cores, and interrupt-driven
// input kept in a small buffer for a later getchar service.
#pragma once

#include "drivers/pl011.hpp"

#include <aos/core/format.hpp>

#include <cstddef>
#include <cstdint>

namespace kernel {

// Sets the UART the console writes to (0 disables output).
void console_init(std::uint64_t uart_base);
std::uint64_t console_uart_base();

// Holds the console for one message: interrupts masked on this core, other cores wait. A core that already
// holds it (an exception report from inside a print) goes on without waiting, so a panic never deadlocks.
class [[nodiscard]] ConsoleGuard {
public:
    ConsoleGuard();
    ~ConsoleGuard();
    ConsoleGuard(const ConsoleGuard&) = delete;
    ConsoleGuard& operator=(const ConsoleGuard&) = delete;

private:
    std::uint64_t saved_daif_;
    bool nested_;
};

struct ConsoleSink {
    void put(char c);
};

void console_write(const char* s);

template <class... Args>
void print(const char* fmt, const Args&... args) {
    ConsoleGuard guard;
    ConsoleSink sink;
    aos::core::format_to(sink, fmt, args...);
}

// Input: the UART's receive interrupt fills a buffer; readers take characters from it.
void console_enable_input(std::uint32_t intid);
std::uint32_t console_input_intid();
void console_handle_interrupt();
// The next received character, or -1 when none is buffered.
int console_try_getchar();
// Characters lost because the buffer was full.
std::size_t console_input_dropped();
// Called (in the interrupt) after characters arrived: the capability layer tells whoever listens.
using ConsoleInputListener = void (*)();
void console_set_input_listener(ConsoleInputListener listener);

} // namespace kernel
