// What the kernel learns about the machine from the device tree at boot.
#pragma once

#include "drivers/gic.hpp"

#include <aos/arch/aarch64/psci.hpp>
#include <aos/boot/fdt.hpp>
#include <aos/core/result.hpp>

#include <cstdint>

namespace kernel {

struct MemoryRange {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
};

struct Platform {
    static constexpr unsigned max_ram_ranges = 8;
    MemoryRange ram[max_ram_ranges];
    unsigned ram_count = 0;
    unsigned cpu_count = 0;
    std::uint64_t uart_base = 0;
    std::uint32_t uart_intid = 0; // 0 when the device tree names none: no console input
    std::uint64_t rtc_base = 0;   // a PL031 the kernel does not use: init gets it as a DevFrame (0: none)
    // Device register frames the kernel maps as Device-nGnRE: the console UART, then the GIC's frames.
    static constexpr unsigned max_mmio_ranges = 8;
    MemoryRange mmio[max_mmio_ranges];
    unsigned mmio_count = 0;
    aos::arch::aarch64::psci::Conduit psci = aos::arch::aarch64::psci::Conduit::none;
    GicConfig gic;
    std::uint32_t timer_intid = 0;
    const char* bootargs = "";
    std::uint64_t dtb_base = 0;
    std::uint32_t dtb_size = 0;

    std::uint64_t total_ram() const;
};

// Reads RAM ranges, CPUs, the console UART, the PSCI conduit and the command line from a validated tree.
aos::Result<Platform> discover_platform(const aos::boot::Fdt& fdt);

} // namespace kernel
