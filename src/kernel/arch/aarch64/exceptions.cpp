// Exception dispatch. Until the kernel runs user programs every exception is unexpected: it is reported with
// its syndrome and registers, and the run ends with a panic status.
#include "trap_frame.hpp"

#include "../../backtrace.hpp"
#include "../../console.hpp"
#include "../../dispatch.hpp"
#include "../../fault_probe.hpp"
#include "../../irq.hpp"
#include "../../power.hpp"

#include <aos/arch/aarch64/mmu.hpp>
#include <aos/arch/aarch64/registers.hpp>

namespace kernel {

namespace a64 = aos::arch::aarch64;

namespace {

void report_registers(const TrapFrame& f) {
    constexpr unsigned per_line = 4;
    for (unsigned i = 0; i < 31; ++i) {
        print("  x{}{} {:016x}", i, i < 10 ? " " : "", f.x[i]);
        if (i % per_line == per_line - 1 || i == 30)
            print("\n");
    }
    print("  sp  {:016x}\n", f.sp);
}

} // namespace

void report_exception(unsigned index, const TrapFrame& f) {
    auto ec = a64::esr::Ec::get(f.esr);
    print("\n*** unexpected exception: {} from {} (vector {})\n",
          a64::vector_kind_name(a64::vector_kind(index)), a64::vector_source_name(a64::vector_source(index)),
          index);
    print("  ESR_EL1  {:016x}  EC {:x} {}, IL {}, ISS {:x}\n", f.esr, ec, a64::exception_class_name(ec),
          static_cast<unsigned>(a64::esr::Il::get(f.esr)), a64::esr::Iss::get(f.esr));
    if (ec == static_cast<a64::Reg>(a64::ExceptionClass::data_abort_same) ||
        ec == static_cast<a64::Reg>(a64::ExceptionClass::data_abort_lower) ||
        ec == static_cast<a64::Reg>(a64::ExceptionClass::inst_abort_same) ||
        ec == static_cast<a64::Reg>(a64::ExceptionClass::inst_abort_lower)) {
        auto status = a64::esr::Dfsc::get(f.esr);
        print("  fault    {}, level {}, {}\n", a64::fsc::name(status), status & a64::fsc::level_mask,
              a64::esr::Wnr::get(f.esr) ? "write" : "read");
    }
    print("  FAR_EL1  {:016x}\n", f.far);
    print("  ELR_EL1  {:016x}\n", f.elr);
    print("  SPSR_EL1 {:016x}\n", f.spsr);
    report_registers(f);
    print_backtrace(f.elr, f.x[29]);
}

} // namespace kernel

extern "C" void handle_exception(unsigned index, kernel::TrapFrame* frame) {
    if (aos::arch::aarch64::vector_source(index) == aos::arch::aarch64::VectorSource::lower_el_a64) {
        kernel::handle_user_exception(index, *frame);
        return;
    }
    if (kernel::handle_expected_fault(index, *frame))
        return;
    namespace a64 = aos::arch::aarch64;
    if (a64::vector_kind(index) == a64::VectorKind::irq &&
        a64::vector_source(index) != a64::VectorSource::lower_el_a32) {
        kernel::handle_irq();
        return;
    }
    kernel::report_exception(index, *frame);
    kernel::shutdown(kernel::ExitStatus::panic);
}
