// What the kernel learns about the machine from the device tree at boot.
#include "platform.hpp"

#include "memory_layout.hpp"

#include <aos/arch/aarch64/generic_timer.hpp>
#include <aos/arch/aarch64/gic.hpp>
#include <aos/arch/aarch64/pl011.hpp>
#include <aos/arch/aarch64/pl031.hpp>

namespace kernel {

using aos::boot::Fdt;
using aos::boot::FdtNode;
namespace psci = aos::arch::aarch64::psci;

std::uint64_t Platform::total_ram() const {
    std::uint64_t total = 0;
    for (unsigned i = 0; i < ram_count; ++i)
        total += ram[i].size;
    return total;
}

namespace {

aos::Result<void> find_ram(const Fdt& fdt, Platform& p) {
    aos::Result<void> status = aos::ok();
    fdt.for_each_node([&](FdtNode n, FdtNode parent, unsigned) {
        if (!fdt.is_device_type(n, "memory"))
            return true;
        aos::Result<void> r = fdt.for_each_reg(n, parent, [&](std::uint64_t base, std::uint64_t size) {
            if (size == 0)
                return;
            if (p.ram_count == Platform::max_ram_ranges) {
                status = aos::error(aos::Errc::unsupported);
                return;
            }
            p.ram[p.ram_count++] = MemoryRange{base, size};
        });
        if (!r)
            status = r;
        return static_cast<bool>(status);
    });
    if (status && p.ram_count == 0)
        return aos::error(aos::Errc::not_found);
    return status;
}

unsigned count_cpus(const Fdt& fdt) {
    unsigned count = 0;
    aos::Result<FdtNode> cpus = fdt.find_path("/cpus");
    if (!cpus)
        return 0;
    fdt.for_each_child(*cpus, [&](FdtNode c) {
        if (fdt.is_device_type(c, "cpu"))
            ++count;
        return true;
    });
    return count;
}

// The INTID of a node's index-th interrupt specifier (GIC form: type, number, flags); 0 when absent.
std::uint32_t interrupt_at(const Fdt& fdt, FdtNode n, unsigned index) {
    namespace gic = aos::arch::aarch64::gic;
    constexpr std::uint32_t entry_size = 4 * gic::dt_interrupt_cells;
    aos::Result<aos::boot::FdtProperty> irqs = fdt.property(n, "interrupts");
    std::uint32_t at = index * entry_size;
    if (!irqs || irqs->size < at + entry_size)
        return 0;
    std::uint32_t type = Fdt::be32(irqs->data + at);
    std::uint32_t number = Fdt::be32(irqs->data + at + 4);
    return type == gic::dt_type_ppi ? gic::ppi_base + number : gic::spi_base + number;
}

// The UART named by /chosen/stdout-path (its options after ':' ignored), else the first PL011.
aos::Result<FdtNode> find_console(const Fdt& fdt) {
    FdtNode uart{};
    bool found = false;
    if (aos::Result<FdtNode> chosen = fdt.find_path("/chosen")) {
        if (aos::Result<const char*> path = fdt.string(*chosen, "stdout-path")) {
            constexpr unsigned max_path = 128;
            char buf[max_path];
            unsigned i = 0;
            for (const char* s = *path; *s != '\0' && *s != ':' && i + 1 < max_path; ++s)
                buf[i++] = *s;
            buf[i] = '\0';
            if (aos::Result<FdtNode> n = fdt.find_path(buf)) {
                uart = *n;
                found = true;
            }
        }
    }
    if (!found)
        uart = AOS_TRY(fdt.find_compatible(aos::arch::aarch64::pl011::compatible));
    return uart;
}

aos::Result<std::uint64_t> first_reg_base(const Fdt& fdt, FdtNode n) {
    std::uint64_t base = 0;
    AOS_TRY(fdt.for_each_reg(n, fdt.parent_of(n), [&](std::uint64_t addr, std::uint64_t) {
        if (base == 0)
            base = addr;
    }));
    if (base == 0)
        return aos::error(aos::Errc::not_found);
    return base;
}

// Adds every register frame of a device node to the ranges the kernel maps as device memory.
aos::Result<void> add_mmio_ranges(const Fdt& fdt, FdtNode n, Platform& p) {
    aos::Result<void> status = aos::ok();
    AOS_TRY(fdt.for_each_reg(n, fdt.parent_of(n), [&](std::uint64_t base, std::uint64_t size) {
        if (size == 0)
            return;
        if (p.mmio_count == Platform::max_mmio_ranges) {
            status = aos::error(aos::Errc::unsupported);
            return;
        }
        p.mmio[p.mmio_count++] = MemoryRange{base, size};
    }));
    return status;
}

psci::Conduit find_psci(const Fdt& fdt) {
    aos::Result<FdtNode> n = fdt.find_path("/psci");
    if (!n)
        return psci::Conduit::none;
    if (fdt.has_string(*n, "method", "hvc"))
        return psci::Conduit::hvc;
    if (fdt.has_string(*n, "method", "smc"))
        return psci::Conduit::smc;
    return psci::Conduit::none;
}

// The EL1 physical timer's INTID from the timer node, or the usual PPI when the tree does not say.
std::uint32_t find_timer_intid(const Fdt& fdt) {
    namespace gt = aos::arch::aarch64::generic_timer;
    aos::Result<FdtNode> timer = fdt.find_compatible(gt::compatible);
    std::uint32_t intid = timer ? interrupt_at(fdt, *timer, gt::dt_index_el1_physical) : 0;
    return intid != 0 ? intid : gt::default_el1_physical_intid;
}

} // namespace

aos::Result<Platform> discover_platform(const Fdt& fdt) {
    Platform p;
    AOS_TRY(find_ram(fdt, p));
    p.cpu_count = count_cpus(fdt);
    FdtNode uart = AOS_TRY(find_console(fdt));
    p.uart_base = AOS_TRY(first_reg_base(fdt, uart));
    p.uart_intid = interrupt_at(fdt, uart, 0);
    AOS_TRY(add_mmio_ranges(fdt, uart, p));
    p.psci = find_psci(fdt);
    p.gic = AOS_TRY(find_gic(fdt));
    AOS_TRY(add_mmio_ranges(fdt, AOS_TRY(find_gic_node(fdt)), p));
    p.timer_intid = find_timer_intid(fdt);
    if (aos::Result<FdtNode> rtc = fdt.find_compatible(aos::arch::aarch64::pl031::compatible)) {
        if (aos::Result<std::uint64_t> base = first_reg_base(fdt, *rtc))
            p.rtc_base = *base;
    }
    if (aos::Result<FdtNode> chosen = fdt.find_path("/chosen")) {
        if (aos::Result<const char*> args = fdt.string(*chosen, "bootargs"))
            p.bootargs = *args;
    }
    p.dtb_base = virt_to_phys(reinterpret_cast<std::uintptr_t>(fdt.data()));
    p.dtb_size = fdt.total_size();
    return p;
}

} // namespace kernel
