// The kernel's own translation tables, built with aos::vm::PageTable, the MMU switch-on, and zeroing whole
// pages of physical memory through the direct map.
#pragma once

#include "arch/aarch64/sysreg.hpp"
#include "memory_layout.hpp"
#include "platform.hpp"

#include <aos/arch/aarch64/registers.hpp>
#include <aos/arch/page.hpp>
#include <aos/core/hooks.hpp>

#include <aos/vm/page_table.hpp>

#include <cstdint>

namespace kernel {

// TLB maintenance for the inner-shareable domain: the kernel's TlbPolicy.
struct KernelTlb {
    void invalidate(std::uint64_t va, aos::vm::TlbScope scope);
    void invalidate_all();
    void publish();
    void sync();
};

using KernelArch = aos::arch::aarch64::Granule4k;
using KernelTableBackend = aos::vm::SpanTableBackend<KernelArch, KernelTlb>;
using KernelTableNode = aos::vm::TableNode<KernelTableBackend::Handle>;
using KernelNodePool = aos::vm::NodePool<KernelTableNode>;
using KernelPageTable = aos::vm::PageTable<KernelArch, KernelTableBackend, KernelNodePool>;
static_assert(aos::vm::TlbPolicy<KernelTlb>);
static_assert(aos::vm::PageTableBackend<KernelTableBackend>);

using aos::arch::aarch64::user_page_attrs;

// Zeroes whole pages of physical memory through the direct map (fresh objects, boot frames): one DC ZVA per
// cache-line block instead of a store per byte (the kernel is built with strict alignment and no vector
// registers, so the compiler cannot widen a byte loop itself); 64-bit stores where DCZID_EL0 prohibits it.
inline void zero_physical(std::uint64_t pa, std::uint64_t bytes) {
    namespace a64 = aos::arch::aarch64;
    AOS_ASSERT(aos::arch::page_aligned(pa) && aos::arch::page_aligned(bytes));
    std::uint64_t dczid = KERNEL_READ_SYSREG(dczid_el0);
    std::uint64_t va = phys_to_virt(pa);
    std::uint64_t block = a64::dczid::block_bytes(dczid);
    if (!a64::dczid::Dzp::get(dczid) && bytes % block == 0 && va % block == 0) {
        for (std::uint64_t at = va; at < va + bytes; at += block)
            __asm__ volatile("dc zva, %0" ::"r"(at) : "memory");
        __asm__ volatile("dsb ish" ::: "memory"); // the zeroes are visible before the memory is used
        return;
    }
    auto* words = reinterpret_cast<volatile std::uint64_t*>(va);
    for (std::uint64_t i = 0; i < bytes / sizeof(std::uint64_t); ++i)
        words[i] = 0;
}

// Builds the identity map of the kernel image (text RX, rodata R, data/bss RW), RAM (RW, no execute,
// blocks where aligned) and the platform's devices (Device-nGnRE), then turns on the MMU and caches.
// Panics if the tables do not fit or the CPU lacks the 4 KiB granule.
void mmu_init(const Platform& p);

// The live kernel table (valid after mmu_init).
KernelPageTable& kernel_page_table();

} // namespace kernel
