// Polled PL011 UART output and interrupt-driven input: the kernel console's device.
#pragma once

#include <cstdint>

namespace kernel {

class Pl011 {
public:
    constexpr Pl011() = default;
    explicit constexpr Pl011(std::uint64_t base) : base_(base) {}

    bool present() const { return base_ != 0; }
    std::uint64_t base() const { return base_; }
    void put(char c) const;
    // Returns -1 when no character is waiting.
    int try_get() const;
    // Raises the UART's interrupt while received characters wait (receive and receive-timeout).
    void enable_receive_interrupt() const;
    // Clears the receive interrupt; call before draining the FIFO.
    void acknowledge_receive_interrupt() const;

private:
    std::uint64_t base_ = 0;
};

} // namespace kernel
