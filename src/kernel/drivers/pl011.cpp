// Polled PL011 UART: the kernel console.
#include "pl011.hpp"

#include <aos/arch/aarch64/pl011.hpp>

namespace kernel {

namespace pl011 = aos::arch::aarch64::pl011;

namespace {
volatile std::uint32_t& reg(std::uint64_t base, std::uint32_t offset) {
    return *reinterpret_cast<volatile std::uint32_t*>(base + offset);
}
} // namespace

void Pl011::put(char c) const {
    if (base_ == 0)
        return;
    while (pl011::FrTxFull::get(reg(base_, pl011::reg_fr)))
        ;
    reg(base_, pl011::reg_dr) = static_cast<std::uint8_t>(c);
}

int Pl011::try_get() const {
    if (base_ == 0 || pl011::FrRxEmpty::get(reg(base_, pl011::reg_fr)))
        return -1;
    return static_cast<int>(reg(base_, pl011::reg_dr) & 0xff);
}

} // namespace kernel

namespace kernel {

void Pl011::enable_receive_interrupt() const {
    if (base_ == 0)
        return;
    // No clearing first: a character that arrived before this point must still raise the interrupt.
    std::uint32_t mask = pl011::IntRx::set(pl011::IntRxTimeout::set(0, true), true);
    reg(base_, pl011::reg_imsc) = reg(base_, pl011::reg_imsc) | mask;
}

void Pl011::acknowledge_receive_interrupt() const {
    if (base_ != 0)
        reg(base_, pl011::reg_icr) = pl011::IntRx::set(pl011::IntRxTimeout::set(0, true), true);
}

} // namespace kernel
