// Arm Generic Interrupt Controller register maps (GICv2: Arm IHI 0048; GICv3: Arm IHI 0069): the offsets
// and bits the kernel's GIC driver uses, and the device-tree compatibles that identify each version.
#pragma once

#include <aos/core/bitfield.hpp>

#include <cstdint>

namespace aos::arch::aarch64::gic {

// Interrupt ID ranges.
inline constexpr std::uint32_t sgi_count = 16;
inline constexpr std::uint32_t ppi_base = 16;              // device-tree PPI n is INTID 16 + n
inline constexpr std::uint32_t spi_base = 32;              // device-tree SPI n is INTID 32 + n
inline constexpr std::uint32_t first_special_intid = 1020; // 1020..1023: never acknowledged as real
inline constexpr std::uint32_t spurious_intid = 1023;
inline constexpr std::uint32_t max_intid = 1019;
// Device-tree interrupt specifier (#interrupt-cells = 3): type, number, flags.
inline constexpr std::uint32_t dt_interrupt_cells = 3;
inline constexpr std::uint32_t dt_type_spi = 0;
inline constexpr std::uint32_t dt_type_ppi = 1;

inline constexpr const char* compatible_v2[] = {"arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"};
inline constexpr const char* compatible_v3 = "arm,gic-v3";

// Distributor (both versions).
inline constexpr std::uint32_t gicd_ctlr = 0x0000;
inline constexpr std::uint32_t gicd_typer = 0x0004;
inline constexpr std::uint32_t gicd_igroupr = 0x0080;         // 1 bit per INTID
inline constexpr std::uint32_t gicd_isenabler = 0x0100;       // 1 bit per INTID
inline constexpr std::uint32_t gicd_icenabler = 0x0180;       // 1 bit per INTID
inline constexpr std::uint32_t gicd_ipriorityr = 0x0400;      // 1 byte per INTID
inline constexpr std::uint32_t gicd_itargetsr = 0x0800;       // GICv2: 1 byte per INTID, CPU mask
inline constexpr std::uint32_t gicd_icfgr = 0x0c00;           // 2 bits per INTID
inline constexpr std::uint64_t gicd_irouter = 0x6000;         // GICv3: 8 bytes per SPI, affinity routing
using GicdTyperItLines = core::BitField<std::uint32_t, 0, 5>; // (lines + 1) * 32 INTIDs
using GicdCtlrEnableGrp0 = core::BitFlag<std::uint32_t, 0>;
using GicdCtlrEnableGrp1 = core::BitFlag<std::uint32_t, 1>;
using GicdCtlrAre = core::BitFlag<std::uint32_t, 4>;  // GICv3 affinity routing (single security state)
using GicdCtlrRwp = core::BitFlag<std::uint32_t, 31>; // GICv3: register write pending

// GICv2 CPU interface (memory mapped).
inline constexpr std::uint32_t gicc_ctlr = 0x0000;
inline constexpr std::uint32_t gicc_pmr = 0x0004;
inline constexpr std::uint32_t gicc_iar = 0x000c;
inline constexpr std::uint32_t gicc_eoir = 0x0010;
using GiccCtlrEnable = core::BitFlag<std::uint32_t, 0>;
using GiccIarIntid = core::BitField<std::uint32_t, 0, 10>;

// GICv3 redistributor: two 64 KiB frames per CPU (RD_base, then SGI_base).
inline constexpr std::uint64_t gicr_frame_size = 0x10000;
inline constexpr std::uint64_t gicr_stride = 2 * gicr_frame_size;
inline constexpr std::uint32_t gicr_typer = 0x0008;
inline constexpr std::uint32_t gicr_waker = 0x0014;
using GicrTyperLast = core::BitFlag<std::uint64_t, 4>;
using GicrTyperAffinity = core::BitField<std::uint64_t, 32, 32>; // Aff3.Aff2.Aff1.Aff0
using GicrWakerProcessorSleep = core::BitFlag<std::uint32_t, 1>;
using GicrWakerChildrenAsleep = core::BitFlag<std::uint32_t, 2>;
// In the SGI_base frame.
inline constexpr std::uint32_t gicr_igroupr0 = 0x0080;
inline constexpr std::uint32_t gicr_isenabler0 = 0x0100;
inline constexpr std::uint32_t gicr_ipriorityr = 0x0400;

// GICv3 CPU interface system-register bits.
using IccSreSre = core::BitFlag<std::uint64_t, 0>;
using IccIarIntid = core::BitField<std::uint64_t, 0, 24>;

// Priorities: lower is more urgent; the mask lets everything through.
inline constexpr std::uint8_t priority_default = 0xa0;
inline constexpr std::uint8_t priority_mask_all = 0xff;

} // namespace aos::arch::aarch64::gic
