// The kernel's address-space layout: the kernel and a direct map of physical memory live in the upper half
// (TTBR1), at physical address + kernel_virt_offset; the lower half (TTBR0) is for user address spaces.
#pragma once

#include "arch/aarch64/sysreg.hpp"
#include "asm_defs.h"

#include <aos/arch/aarch64/registers.hpp>

#include <cstdint>

namespace kernel {

inline constexpr std::uint64_t kernel_virt_offset = KERNEL_VIRT_OFFSET;

constexpr std::uint64_t phys_to_virt(std::uint64_t pa) {
    return pa + kernel_virt_offset;
}
constexpr std::uint64_t virt_to_phys(std::uint64_t va) {
    return va - kernel_virt_offset;
}

// aos::vm::PageTable works on 48-bit addresses; the kernel's table maps upper-half address `va` at
// `table_address(va)` (the same walk: TTBR1 indexes with bits [47:0]).
constexpr std::uint64_t table_address(std::uint64_t va) {
    return va - kernel_virt_offset;
}
constexpr std::uint64_t upper_half(std::uint64_t table_va) {
    return table_va + kernel_virt_offset;
}

static_assert(phys_to_virt(0x40000000) == 0xffff000040000000);

// Zeroes whole pages of physical memory through the direct map (fresh objects, boot frames): one DC ZVA per
// cache-line block instead of a store per byte (the kernel is built with strict alignment and no vector
// registers, so the compiler cannot widen a byte loop itself); 64-bit stores where DCZID_EL0 prohibits it.
inline void zero_physical(std::uint64_t pa, std::uint64_t bytes) {
    namespace a64 = aos::arch::aarch64;
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

} // namespace kernel
