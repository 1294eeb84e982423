// The register state saved by the exception vectors (vectors.S) on every exception.
#pragma once

#include "asm_defs.h"

#include <cstddef>
#include <cstdint>

namespace kernel {

struct TrapFrame {
    std::uint64_t x[31];
    std::uint64_t sp;
    std::uint64_t elr;
    std::uint64_t spsr;
    std::uint64_t esr;
    std::uint64_t far;
    std::uint64_t sp_el0;
    std::uint64_t tpidr_el0;
};

// vectors.S stores into this layout by offset: keep the two in step.
static_assert(offsetof(TrapFrame, x) == 0);
static_assert(offsetof(TrapFrame, x[30]) == TRAP_FRAME_X30);
static_assert(offsetof(TrapFrame, sp) == TRAP_FRAME_SP);
static_assert(offsetof(TrapFrame, elr) == TRAP_FRAME_ELR);
static_assert(offsetof(TrapFrame, spsr) == TRAP_FRAME_SPSR);
static_assert(offsetof(TrapFrame, esr) == TRAP_FRAME_ESR);
static_assert(offsetof(TrapFrame, far) == TRAP_FRAME_FAR);
static_assert(offsetof(TrapFrame, sp_el0) == TRAP_FRAME_SP_EL0);
static_assert(offsetof(TrapFrame, tpidr_el0) == TRAP_FRAME_TPIDR_EL0);
static_assert(sizeof(TrapFrame) == TRAP_FRAME_SIZE);
static_assert(sizeof(TrapFrame) % 16 == 0, "SP must stay 16-byte aligned");

} // namespace kernel
