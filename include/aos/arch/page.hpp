// The page geometry the memory library works in: the 4 KiB translation granule, which AArch64 (with a
// 4 KiB granule, as aos configures it) and x86-64 share. Named once here so no component repeats it.
//
//   if (!aos::arch::page_aligned(base)) return aos::error(aos::Errc::misaligned);
#pragma once

#include <cstdint>

namespace aos::arch {

inline constexpr std::uint64_t page_shift = 12;
inline constexpr std::uint64_t page_size = std::uint64_t{1} << page_shift;

constexpr bool page_aligned(std::uint64_t x) {
    return (x & (page_size - 1)) == 0;
}
constexpr std::uint64_t page_down(std::uint64_t x) {
    return x & ~(page_size - 1);
}
// x rounded up to a multiple of `align` (a power of two); x must lie that far below the top of the address
// space.
constexpr std::uint64_t align_up(std::uint64_t x, std::uint64_t align) {
    return (x + align - 1) & ~(align - 1);
}
// x must lie a page below the top of the address space.
constexpr std::uint64_t page_up(std::uint64_t x) {
    return align_up(x, page_size);
}

static_assert(page_size == 4096, "the library's bookkeeping assumes the 4 KiB granule");

} // namespace aos::arch
