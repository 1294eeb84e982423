// Code a program wrote itself (a JIT, a loader) made visible to instruction fetch, by VA from EL0: the
// kernel lets EL0 clean and invalidate caches (SCTLR_EL1.UCI, UCT), as Linux does, so it takes no system
// call. Call it after the last write and before the first jump into the code. The line sizes are read
// from this core's CTR_EL0: on cores whose caches differ, Linux reports the smallest lines to every core
// instead; aos runs on one core so far.
#pragma once

#include <aos/arch/aarch64/registers.hpp>

#include <cstdint>

namespace aos::user {

inline void sync_code(std::uint64_t va, std::uint64_t bytes) {
    namespace a64 = aos::arch::aarch64;
    std::uint64_t ctr = 0;
    __asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
    std::uint64_t dline = a64::ctr::dcache_line_bytes(ctr);
    std::uint64_t iline = a64::ctr::icache_line_bytes(ctr);
    for (std::uint64_t at = va & ~(dline - 1); at < va + bytes; at += dline)
        __asm__ volatile("dc cvau, %0" ::"r"(at) : "memory");
    __asm__ volatile("dsb ish" ::: "memory");
    for (std::uint64_t at = va & ~(iline - 1); at < va + bytes; at += iline)
        __asm__ volatile("ic ivau, %0" ::"r"(at) : "memory");
    __asm__ volatile("dsb ish\n isb" ::: "memory");
}

// Writes at `at` (writable now) a function that returns `value`, and syncs it: the smallest code a test of
// "written, then made executable" can run. Call it through the returned pointer once the page is
// executable.
using ReturnsValue = std::uint64_t (*)();
inline ReturnsValue write_return_value(std::uint64_t at, std::uint16_t value) {
    namespace a64 = aos::arch::aarch64;
    auto* code = reinterpret_cast<volatile std::uint32_t*>(at);
    code[0] = a64::insn::movz_w(0, value);
    code[1] = a64::insn::ret;
    sync_code(at, 2 * sizeof(std::uint32_t));
    return reinterpret_cast<ReturnsValue>(at);
}

} // namespace aos::user
