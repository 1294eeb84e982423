// The interrupt controller: GICv2 (memory-mapped CPU interface) or GICv3 (system-register CPU interface and
// per-core redistributors), detected from the device tree.
#include "gic.hpp"

#include "arch/aarch64/sysreg.hpp"

#include <aos/arch/aarch64/gic.hpp>
#include <aos/arch/aarch64/registers.hpp>

namespace kernel {

namespace gic = aos::arch::aarch64::gic;
using aos::boot::Fdt;
using aos::boot::FdtNode;

namespace {

constinit GicConfig active;
constinit std::uint64_t this_redistributor = 0; // GICv3: RD_base of this core

volatile std::uint32_t& reg32(std::uint64_t base, std::uint64_t offset) {
    return *reinterpret_cast<volatile std::uint32_t*>(base + offset);
}
volatile std::uint8_t& reg8(std::uint64_t base, std::uint64_t offset) {
    return *reinterpret_cast<volatile std::uint8_t*>(base + offset);
}
volatile std::uint64_t& reg64(std::uint64_t base, std::uint64_t offset) {
    return *reinterpret_cast<volatile std::uint64_t*>(base + offset);
}

void barrier() {
    __asm__ volatile("dsb sy\n\tisb" ::: "memory");
}

std::uint64_t this_core_affinity() {
    return aos::arch::aarch64::mpidr::packed_affinity(KERNEL_READ_SYSREG(mpidr_el1));
}

void wait_for_distributor_writes() {
    while (gic::GicdCtlrRwp::get(reg32(active.distributor, gic::gicd_ctlr)))
        ;
}

aos::Result<std::uint64_t> find_redistributor() {
    std::uint64_t want = this_core_affinity();
    for (std::uint64_t rd = active.cpu_or_redistributor;
         rd + gic::gicr_stride <= active.cpu_or_redistributor + active.redistributor_size;
         rd += gic::gicr_stride) {
        std::uint64_t typer = reg64(rd, gic::gicr_typer);
        if (gic::GicrTyperAffinity::get(typer) == want)
            return rd;
        if (gic::GicrTyperLast::get(typer))
            break;
    }
    return aos::error(aos::Errc::not_found);
}

aos::Result<void> init_v3() {
    std::uint32_t ctlr = 0;
    ctlr = gic::GicdCtlrAre::set(ctlr, true);
    ctlr = gic::GicdCtlrEnableGrp1::set(ctlr, true);
    reg32(active.distributor, gic::gicd_ctlr) = ctlr;
    wait_for_distributor_writes();

    this_redistributor = AOS_TRY(find_redistributor());
    std::uint32_t waker = reg32(this_redistributor, gic::gicr_waker);
    reg32(this_redistributor, gic::gicr_waker) = gic::GicrWakerProcessorSleep::set(waker, false);
    while (gic::GicrWakerChildrenAsleep::get(reg32(this_redistributor, gic::gicr_waker)))
        ;
    // SGIs and PPIs of this core: group 1, so they are signalled as IRQs at EL1.
    std::uint64_t sgi = this_redistributor + gic::gicr_frame_size;
    reg32(sgi, gic::gicr_igroupr0) = ~0u;

    std::uint64_t sre = KERNEL_READ_SYSREG(S3_0_C12_C12_5); // ICC_SRE_EL1
    KERNEL_WRITE_SYSREG(S3_0_C12_C12_5, aos::arch::aarch64::gic::IccSreSre::set(sre, true));
    barrier();
    KERNEL_WRITE_SYSREG(S3_0_C4_C6_0, std::uint64_t{gic::priority_mask_all}); // ICC_PMR_EL1
    KERNEL_WRITE_SYSREG(S3_0_C12_C12_7, std::uint64_t{1});                    // ICC_IGRPEN1_EL1
    barrier();
    return aos::ok();
}

void init_v2() {
    std::uint32_t ctlr = gic::GicdCtlrEnableGrp0::set(0, true);
    reg32(active.distributor, gic::gicd_ctlr) = ctlr;
    reg32(active.cpu_or_redistributor, gic::gicc_pmr) = gic::priority_mask_all;
    reg32(active.cpu_or_redistributor, gic::gicc_ctlr) = gic::GiccCtlrEnable::set(0, true);
    barrier();
}

std::uint32_t bit_of(std::uint32_t intid) {
    return 1u << (intid % 32);
}
std::uint32_t word_of(std::uint32_t intid) {
    return 4 * (intid / 32);
}

} // namespace

aos::Result<FdtNode> find_gic_node(const Fdt& fdt) {
    if (aos::Result<FdtNode> node = fdt.find_compatible(gic::compatible_v3))
        return node;
    for (const char* compat : gic::compatible_v2) {
        if (aos::Result<FdtNode> node = fdt.find_compatible(compat))
            return node;
    }
    return aos::error(aos::Errc::not_found);
}

aos::Result<GicConfig> find_gic(const Fdt& fdt) {
    GicConfig c;
    FdtNode node = AOS_TRY(find_gic_node(fdt));
    c.version = fdt.is_compatible(node, gic::compatible_v3) ? GicVersion::v3 : GicVersion::v2;
    unsigned index = 0;
    AOS_TRY(fdt.for_each_reg(node, fdt.parent_of(node), [&](std::uint64_t base, std::uint64_t size) {
        if (index == 0)
            c.distributor = base;
        else if (index == 1) {
            c.cpu_or_redistributor = base;
            c.redistributor_size = size;
        }
        ++index;
    }));
    if (index < 2)
        return aos::error(aos::Errc::malformed);
    return c;
}

aos::Result<void> gic_init(const GicConfig& config) {
    active = config;
    if (config.version == GicVersion::v3)
        return init_v3();
    init_v2();
    return aos::ok();
}

void gic_enable(std::uint32_t intid) {
    if (intid < gic::spi_base && active.version == GicVersion::v3) {
        std::uint64_t sgi = this_redistributor + gic::gicr_frame_size;
        reg8(sgi, gic::gicr_ipriorityr + intid) = gic::priority_default;
        reg32(sgi, gic::gicr_isenabler0) = bit_of(intid);
        return;
    }
    reg8(active.distributor, gic::gicd_ipriorityr + intid) = gic::priority_default;
    if (intid >= gic::spi_base) {
        if (active.version == GicVersion::v3) {
            reg32(active.distributor, gic::gicd_igroupr + word_of(intid)) |= bit_of(intid);
            reg64(active.distributor, gic::gicd_irouter + 8 * intid) = this_core_affinity();
        } else {
            reg8(active.distributor, gic::gicd_itargetsr + intid) = 1; // CPU interface 0: the boot core
        }
    }
    reg32(active.distributor, gic::gicd_isenabler + word_of(intid)) = bit_of(intid);
    if (active.version == GicVersion::v3)
        wait_for_distributor_writes();
    barrier();
}

void gic_disable(std::uint32_t intid) {
    if (intid < gic::spi_base && active.version == GicVersion::v3)
        return; // PPIs of v3 live in the redistributor; the kernel never disables one today
    reg32(active.distributor, gic::gicd_icenabler + word_of(intid)) = bit_of(intid);
    barrier();
}

std::uint32_t gic_acknowledge() {
    if (active.version == GicVersion::v3) {
        std::uint64_t iar = KERNEL_READ_SYSREG(S3_0_C12_C12_0); // ICC_IAR1_EL1
        return static_cast<std::uint32_t>(gic::IccIarIntid::get(iar));
    }
    return gic::GiccIarIntid::get(reg32(active.cpu_or_redistributor, gic::gicc_iar));
}

void gic_end_of_interrupt(std::uint32_t intid) {
    if (active.version == GicVersion::v3)
        KERNEL_WRITE_SYSREG(S3_0_C12_C12_1, std::uint64_t{intid}); // ICC_EOIR1_EL1
    else
        reg32(active.cpu_or_redistributor, gic::gicc_eoir) = intid;
}

GicVersion gic_version() {
    return active.version;
}

} // namespace kernel
