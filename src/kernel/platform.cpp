// What the kernel learns about the machine from the device tree at boot.
#include "platform.hpp"

#include <aos/arch/aarch64/pl011.hpp>

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

// The UART named by /chosen/stdout-path (its options after ':' ignored), else the first PL011.
aos::Result<MemoryRange> find_console(const Fdt& fdt) {
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
    MemoryRange r;
    AOS_TRY(fdt.for_each_reg(uart, fdt.parent_of(uart), [&](std::uint64_t addr, std::uint64_t size) {
        if (r.base == 0)
            r = MemoryRange{addr, size};
    }));
    if (r.base == 0)
        return aos::error(aos::Errc::not_found);
    return r;
}

// The interrupt controller's register frames (GICv3 or GICv2), for the kernel's device mappings.
aos::Result<void> find_gic(const Fdt& fdt, Platform& p) {
    constexpr const char* compatibles[] = {"arm,gic-v3", "arm,cortex-a15-gic", "arm,gic-400"};
    for (const char* c : compatibles) {
        aos::Result<FdtNode> n = fdt.find_compatible(c);
        if (!n)
            continue;
        aos::Result<void> status = aos::ok();
        AOS_TRY(fdt.for_each_reg(*n, fdt.parent_of(*n), [&](std::uint64_t base, std::uint64_t size) {
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
    return aos::ok(); // no known GIC: nothing to map yet
}

psci::Conduit find_psci(const Fdt& fdt) {
    aos::Result<FdtNode> n = fdt.find_path("/psci");
    if (!n)
        return psci::Conduit::none;
    aos::Result<const char*> method = fdt.string(*n, "method");
    if (!method)
        return psci::Conduit::none;
    if (fdt.has_string(*n, "method", "hvc"))
        return psci::Conduit::hvc;
    if (fdt.has_string(*n, "method", "smc"))
        return psci::Conduit::smc;
    return psci::Conduit::none;
}

} // namespace

aos::Result<Platform> discover_platform(const Fdt& fdt) {
    Platform p;
    AOS_TRY(find_ram(fdt, p));
    p.cpu_count = count_cpus(fdt);
    MemoryRange uart = AOS_TRY(find_console(fdt));
    p.uart_base = uart.base;
    p.mmio[p.mmio_count++] = uart;
    AOS_TRY(find_gic(fdt, p));
    p.psci = find_psci(fdt);
    if (aos::Result<FdtNode> chosen = fdt.find_path("/chosen")) {
        if (aos::Result<const char*> args = fdt.string(*chosen, "bootargs"))
            p.bootargs = *args;
    }
    p.dtb_base = reinterpret_cast<std::uintptr_t>(fdt.data());
    p.dtb_size = fdt.total_size();
    return p;
}

} // namespace kernel
