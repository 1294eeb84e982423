// The kernel console: serialized formatted output and interrupt-driven input.
#include "console.hpp"

#include "arch/aarch64/sysreg.hpp"
#include "drivers/gic.hpp"

#include <aos/arch/aarch64/registers.hpp>
#include <aos/core/lock.hpp>

#include <atomic>

namespace kernel {

namespace {

constexpr std::uint64_t no_owner = ~std::uint64_t{0};
constexpr std::size_t input_capacity = 256;

constinit Pl011 console_uart;
constinit aos::core::SpinLock console_lock;
constinit std::atomic<std::uint64_t> console_owner{no_owner};

// Written only by the receive interrupt, read with interrupts masked on the same core.
constinit char input_buffer[input_capacity];
constinit std::size_t input_head = 0; // next to read
constinit std::size_t input_tail = 0; // next to write
constinit std::size_t input_dropped = 0;
constinit std::uint32_t input_intid = 0;
constinit ConsoleInputListener input_listener = nullptr;

std::uint64_t this_core() {
    return aos::arch::aarch64::mpidr::packed_affinity(KERNEL_READ_SYSREG(mpidr_el1));
}

} // namespace

void console_init(std::uint64_t uart_base) {
    console_uart = Pl011(uart_base);
}
std::uint64_t console_uart_base() {
    return console_uart.base();
}

ConsoleGuard::ConsoleGuard() : saved_daif_(KERNEL_READ_SYSREG(daif)), nested_(false) {
    __asm__ volatile("msr daifset, #0x3" ::: "memory"); // IRQ and FIQ
    std::uint64_t me = this_core();
    if (console_owner.load(std::memory_order_relaxed) == me) {
        nested_ = true;
        return;
    }
    console_lock.lock();
    console_owner.store(me, std::memory_order_relaxed);
}

ConsoleGuard::~ConsoleGuard() {
    if (!nested_) {
        console_owner.store(no_owner, std::memory_order_relaxed);
        console_lock.unlock();
    }
    KERNEL_WRITE_SYSREG(daif, saved_daif_);
}

void ConsoleSink::put(char c) {
    if (c == '\n')
        console_uart.put('\r');
    console_uart.put(c);
}

void console_write(const char* s) {
    ConsoleGuard guard;
    ConsoleSink sink;
    while (*s != '\0')
        sink.put(*s++);
}

void console_enable_input(std::uint32_t intid) {
    input_intid = intid;
    console_uart.enable_receive_interrupt();
    gic_enable(intid);
    console_handle_interrupt(); // whatever arrived before the interrupt was on
}

std::uint32_t console_input_intid() {
    return input_intid;
}

void console_handle_interrupt() {
    // Clear first, then drain: a character arriving after the last read raises the interrupt again instead
    // of having its interrupt cleared while it sits unread.
    console_uart.acknowledge_receive_interrupt();
    bool arrived = false;
    for (int c = console_uart.try_get(); c >= 0; c = console_uart.try_get()) {
        arrived = true;
        std::size_t next = (input_tail + 1) % input_capacity;
        if (next == input_head) {
            ++input_dropped;
            continue;
        }
        input_buffer[input_tail] = static_cast<char>(c);
        input_tail = next;
    }
    if (arrived && input_listener != nullptr)
        input_listener();
}

void console_set_input_listener(ConsoleInputListener listener) {
    input_listener = listener;
}

int console_try_getchar() {
    std::uint64_t daif = KERNEL_READ_SYSREG(daif);
    __asm__ volatile("msr daifset, #0x2" ::: "memory");
    int c = -1;
    if (input_head != input_tail) {
        c = static_cast<unsigned char>(input_buffer[input_head]);
        input_head = (input_head + 1) % input_capacity;
    }
    KERNEL_WRITE_SYSREG(daif, daif);
    return c;
}

std::size_t console_input_dropped() {
    return input_dropped;
}

} // namespace kernel
