// The kernel console: formatted output to the boot UART.
#include "console.hpp"

namespace kernel {

namespace {
constinit Pl011 console_uart;
}

void console_init(std::uint64_t uart_base) {
    console_uart = Pl011(uart_base);
}
std::uint64_t console_uart_base() {
    return console_uart.base();
}

void ConsoleSink::put(char c) {
    if (c == '\n')
        console_uart.put('\r');
    console_uart.put(c);
}

void console_write(const char* s) {
    ConsoleSink sink;
    while (*s != '\0')
        sink.put(*s++);
}

} // namespace kernel
