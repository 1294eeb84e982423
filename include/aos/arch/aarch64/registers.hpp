// AArch64 system-register fields the kernel reads and writes, declared once from the Arm Architecture
// Reference Manual (DDI 0487). Names follow the manual.
#pragma once

#include <aos/core/bitfield.hpp>

#include <cstdint>

namespace aos::arch::aarch64 {

using Reg = std::uint64_t;

// CurrentEL: the exception level in bits [3:2].
using CurrentElLevel = core::BitField<Reg, 2, 2>;

// MPIDR_EL1: the core's affinity levels.
namespace mpidr {
using Aff0 = core::BitField<Reg, 0, 8>;
using Aff1 = core::BitField<Reg, 8, 8>;
using Aff2 = core::BitField<Reg, 16, 8>;
using Aff3 = core::BitField<Reg, 32, 8>;
// The affinity as GICv3 packs it (GICR_TYPER, GICD_IROUTER's low bits): Aff3.Aff2.Aff1.Aff0.
constexpr Reg packed_affinity(Reg v) {
    return Aff3::get(v) << 24 | Aff2::get(v) << 16 | Aff1::get(v) << 8 | Aff0::get(v);
}
} // namespace mpidr

// DCZID_EL0: what DC ZVA zeroes. BS is log2 of the block size in 4-byte words; DZP set prohibits DC ZVA.
namespace dczid {
using Bs = core::BitField<Reg, 0, 4>;
using Dzp = core::BitFlag<Reg, 4>;
constexpr std::uint64_t block_bytes(Reg v) {
    return std::uint64_t{4} << Bs::get(v);
}
} // namespace dczid

// ESR_ELx: exception syndrome.
namespace esr {
using Ec = core::BitField<Reg, 26, 6>;  // exception class
using Il = core::BitFlag<Reg, 25>;      // 32-bit instruction length
using Iss = core::BitField<Reg, 0, 25>; // instruction-specific syndrome
// Data/instruction abort ISS: fault status code.
using Dfsc = core::BitField<Reg, 0, 6>;
using Wnr = core::BitFlag<Reg, 6>; // write, not read
} // namespace esr

// Exception classes (ESR_ELx.EC) that the kernel names in reports or dispatches on.
enum class ExceptionClass : std::uint8_t {
    unknown = 0x00,
    wfx = 0x01,
    fp_access = 0x07,
    illegal_state = 0x0e,
    svc_a64 = 0x15,
    hvc_a64 = 0x16,
    smc_a64 = 0x17,
    sys_reg = 0x18,
    sve_access = 0x19,
    pac_fail = 0x1c,
    inst_abort_lower = 0x20,
    inst_abort_same = 0x21,
    pc_alignment = 0x22,
    data_abort_lower = 0x24,
    data_abort_same = 0x25,
    sp_alignment = 0x26,
    fp_exception = 0x2c,
    serror = 0x2f,
    breakpoint_lower = 0x30,
    breakpoint_same = 0x31,
    step_lower = 0x32,
    step_same = 0x33,
    watchpoint_lower = 0x34,
    watchpoint_same = 0x35,
    brk_a64 = 0x3c,
};

constexpr const char* exception_class_name(Reg ec) {
    switch (static_cast<ExceptionClass>(ec)) {
    case ExceptionClass::unknown:
        return "unknown reason (undefined instruction)";
    case ExceptionClass::wfx:
        return "trapped WFI/WFE";
    case ExceptionClass::fp_access:
        return "FP/SIMD access trapped";
    case ExceptionClass::illegal_state:
        return "illegal execution state";
    case ExceptionClass::svc_a64:
        return "SVC (AArch64)";
    case ExceptionClass::hvc_a64:
        return "HVC (AArch64)";
    case ExceptionClass::smc_a64:
        return "SMC (AArch64)";
    case ExceptionClass::sys_reg:
        return "trapped system register access";
    case ExceptionClass::sve_access:
        return "SVE access trapped";
    case ExceptionClass::pac_fail:
        return "pointer authentication failure";
    case ExceptionClass::inst_abort_lower:
        return "instruction abort from a lower EL";
    case ExceptionClass::inst_abort_same:
        return "instruction abort from the same EL";
    case ExceptionClass::pc_alignment:
        return "PC alignment fault";
    case ExceptionClass::data_abort_lower:
        return "data abort from a lower EL";
    case ExceptionClass::data_abort_same:
        return "data abort from the same EL";
    case ExceptionClass::sp_alignment:
        return "SP alignment fault";
    case ExceptionClass::fp_exception:
        return "FP exception (AArch64)";
    case ExceptionClass::serror:
        return "SError interrupt";
    case ExceptionClass::breakpoint_lower:
        return "breakpoint from a lower EL";
    case ExceptionClass::breakpoint_same:
        return "breakpoint from the same EL";
    case ExceptionClass::step_lower:
        return "software step from a lower EL";
    case ExceptionClass::step_same:
        return "software step from the same EL";
    case ExceptionClass::watchpoint_lower:
        return "watchpoint from a lower EL";
    case ExceptionClass::watchpoint_same:
        return "watchpoint from the same EL";
    case ExceptionClass::brk_a64:
        return "BRK instruction (AArch64)";
    }
    return "unrecognised exception class";
}

// The sixteen vector-table entries, in table order (VBAR_ELx + 0x80 * index).
inline constexpr unsigned vector_count = 16;
inline constexpr unsigned vector_entry_size = 0x80;
inline constexpr unsigned vector_table_alignment = 0x800;
enum class VectorKind : std::uint8_t { sync = 0, irq = 1, fiq = 2, serror = 3 };
enum class VectorSource : std::uint8_t {
    current_el_sp0 = 0,
    current_el_spx = 1,
    lower_el_a64 = 2,
    lower_el_a32 = 3
};
constexpr VectorKind vector_kind(unsigned index) {
    return static_cast<VectorKind>(index % 4);
}
constexpr VectorSource vector_source(unsigned index) {
    return static_cast<VectorSource>(index / 4);
}
constexpr const char* vector_kind_name(VectorKind k) {
    constexpr const char* names[] = {"synchronous", "IRQ", "FIQ", "SError"};
    return names[static_cast<unsigned>(k)];
}
constexpr const char* vector_source_name(VectorSource s) {
    constexpr const char* names[] = {"current EL with SP_EL0", "current EL with SP_ELx", "lower EL (AArch64)",
                                     "lower EL (AArch32)"};
    return names[static_cast<unsigned>(s)];
}

// SPSR_ELx.M[3:0]: the mode an exception return goes to.
namespace spsr {
using Mode = core::BitField<Reg, 0, 4>;
inline constexpr Reg mode_el0t = 0b0000;
inline constexpr Reg mode_el1t = 0b0100;
inline constexpr Reg mode_el1h = 0b0101;
inline constexpr Reg mode_el2h = 0b1001;
using D = core::BitFlag<Reg, 9>;
using A = core::BitFlag<Reg, 8>;
using I = core::BitFlag<Reg, 7>;
using F = core::BitFlag<Reg, 6>;
} // namespace spsr

// CTR_EL0: cache type; DminLine and IminLine are log2 of the smallest data and instruction cache lines in
// 4-byte words.
namespace ctr {
using IminLine = core::BitField<Reg, 0, 4>;
using DminLine = core::BitField<Reg, 16, 4>;
inline constexpr Reg word_bytes = 4;
constexpr Reg dcache_line_bytes(Reg ctr) {
    return word_bytes << DminLine::get(ctr);
}
constexpr Reg icache_line_bytes(Reg ctr) {
    return word_bytes << IminLine::get(ctr);
}
} // namespace ctr

// PAR_EL1 after an AT instruction: F set means the translation faulted; otherwise PA[47:12].
namespace par {
using F = core::BitFlag<Reg, 0>;
using Pa = core::BitField<Reg, 12, 36>;
} // namespace par

// The performance monitors (PMUv3): what a kernel sets so EL0 may count instructions with event counter 0
// (under QEMU, only with -icount).
namespace pmu {
using PmcrE = core::BitFlag<Reg, 0>;         // PMCR_EL0.E: counters enabled
using UserenrEn = core::BitFlag<Reg, 0>;     // PMUSERENR_EL0.EN: EL0 may access the PMU
using UserenrEr = core::BitFlag<Reg, 3>;     // PMUSERENR_EL0.ER: EL0 may read event counters
using CntenCounter0 = core::BitFlag<Reg, 0>; // PMCNTENSET_EL0: event counter 0 counts
inline constexpr Reg event_inst_retired = 0x08;
static_assert(UserenrEr::mask == 8);
} // namespace pmu

// A64 encodings the kernel writes into memory (its self tests place a `ret` where execution must fault).
namespace insn {
inline constexpr std::uint32_t ret = 0xd65f03c0; // RET (X30)
// MOVZ Wd, #imm16 (C6.2.230): Wd = imm16.
constexpr std::uint32_t movz_w(unsigned rd, std::uint16_t imm16) {
    return 0x52800000u | (std::uint32_t{imm16} << 5) | (rd & 0x1fu);
}
static_assert(movz_w(0, 42) == 0x52800540);
} // namespace insn

} // namespace aos::arch::aarch64
