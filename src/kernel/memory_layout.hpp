// The kernel's address-space layout: the kernel and a direct map of physical memory live in the upper half
// (TTBR1), at physical address + kernel_virt_offset; the lower half (TTBR0) is for user address spaces.
#pragma once

#include "asm_defs.h"

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

} // namespace kernel
