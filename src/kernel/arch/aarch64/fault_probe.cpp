// Expected faults: a probe arms a record, performs one access; the exception handler fills the record and
// resumes after the access (data aborts: the next instruction; instruction aborts: the probe's return
// address in x30, as the probe reached the address with BLR).
#include "../../fault_probe.hpp"

#include <aos/arch/aarch64/registers.hpp>

namespace kernel {

namespace a64 = aos::arch::aarch64;

namespace {

constexpr std::uint64_t instruction_bytes = 4;
constexpr unsigned link_register = 30;

struct ProbeState {
    bool armed = false;
    Access access = Access::read;
    FaultRecord record;
};
volatile ProbeState* state() {
    static ProbeState s;
    return &s;
}

} // namespace

FaultRecord probe(std::uintptr_t va, Access access, std::uint64_t value) {
    volatile ProbeState* s = state();
    s->record.taken = false;
    s->access = access;
    s->armed = true;
    __asm__ volatile("" ::: "memory");
    switch (access) {
    case Access::read: {
        std::uint64_t v;
        __asm__ volatile("ldr %0, [%1]" : "=r"(v) : "r"(va) : "memory");
        (void)v;
        break;
    }
    case Access::write:
        __asm__ volatile("str %0, [%1]" ::"r"(value), "r"(va) : "memory");
        break;
    case Access::execute:
        __asm__ volatile("blr %0" ::"r"(va) : "x30", "memory");
        break;
    }
    s->armed = false;
    FaultRecord r;
    r.taken = s->record.taken;
    r.esr = s->record.esr;
    r.far = s->record.far;
    return r;
}

bool handle_expected_fault(unsigned vector, TrapFrame& f) {
    volatile ProbeState* s = state();
    if (!s->armed || a64::vector_kind(vector) != a64::VectorKind::sync ||
        a64::vector_source(vector) != a64::VectorSource::current_el_spx)
        return false;
    auto ec = static_cast<a64::ExceptionClass>(a64::esr::Ec::get(f.esr));
    bool execute = s->access == Access::execute;
    if (ec != (execute ? a64::ExceptionClass::inst_abort_same : a64::ExceptionClass::data_abort_same))
        return false;
    s->record.taken = true;
    s->record.esr = f.esr;
    s->record.far = f.far;
    s->armed = false;
    f.elr = execute ? f.x[link_register] : f.elr + instruction_bytes;
    return true;
}

} // namespace kernel
