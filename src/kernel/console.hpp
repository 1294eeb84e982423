// The kernel console: formatted output to the boot UART.
#pragma once

#include "drivers/pl011.hpp"

#include <aos/core/format.hpp>

namespace kernel {

// Sets the UART the console writes to (0 disables output).
void console_init(std::uint64_t uart_base);
std::uint64_t console_uart_base();

struct ConsoleSink {
    void put(char c);
};

void console_write(const char* s);

template <class... Args>
void print(const char* fmt, const Args&... args) {
    ConsoleSink sink;
    aos::core::format_to(sink, fmt, args...);
}

} // namespace kernel
