// Facts of QEMU's `virt` board that the kernel needs before it can read the device tree. Everything else
// (RAM, UART, GIC, PSCI, CPUs) comes from the device tree.
#pragma once

#include <cstdint>

namespace aos::arch::aarch64::qemu_virt {

// The PL011 the board always has; used only to report a device tree that cannot be parsed.
inline constexpr std::uint64_t fallback_uart_base = 0x09000000;
// Where RAM starts; the kernel image is loaded at an offset from here.
inline constexpr std::uint64_t ram_base = 0x40000000;

} // namespace aos::arch::aarch64::qemu_virt
