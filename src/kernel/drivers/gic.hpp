// The interrupt controller: GICv2 or GICv3, whichever the device tree describes.
#pragma once

#include <aos/boot/fdt.hpp>
#include <aos/core/result.hpp>

#include <cstdint>

namespace kernel {

enum class GicVersion : std::uint8_t { v2 = 2, v3 = 3 };

struct GicConfig {
    GicVersion version = GicVersion::v2;
    std::uint64_t distributor = 0;
    // GICv2: the CPU interface; GICv3: the first redistributor.
    std::uint64_t cpu_or_redistributor = 0;
    std::uint64_t redistributor_size = 0;
};

// The interrupt controller's device-tree node (GICv3 preferred), and its configuration.
aos::Result<aos::boot::FdtNode> find_gic_node(const aos::boot::Fdt& fdt);
aos::Result<GicConfig> find_gic(const aos::boot::Fdt& fdt);

// Brings up the distributor and this core's CPU interface (and, on v3, its redistributor).
aos::Result<void> gic_init(const GicConfig& config);
// Routes an interrupt to this core and enables it.
void gic_enable(std::uint32_t intid);
void gic_disable(std::uint32_t intid);
// Acknowledges the highest-priority pending interrupt; returns its INTID (1023 when spurious).
std::uint32_t gic_acknowledge();
void gic_end_of_interrupt(std::uint32_t intid);
GicVersion gic_version();

} // namespace kernel
