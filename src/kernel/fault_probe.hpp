// Deliberate accesses that are expected to fault: the self tests use them to observe the MMU's faults
// (syndrome and FAR) and carry on, instead of ending the run in the exception report.
#pragma once

#include "arch/aarch64/trap_frame.hpp"

#include <cstdint>

namespace kernel {

enum class Access : std::uint8_t { read, write, execute };

struct FaultRecord {
    bool taken = false;
    std::uint64_t esr = 0;
    std::uint64_t far = 0;
};

// Reads, writes (`value`) or branches to `va` (which must then hold a `ret`). Returns the abort it raised,
// if any; `taken` is false when the access succeeded.
FaultRecord probe(std::uintptr_t va, Access access, std::uint64_t value = 0);

// Called for every exception: resumes after the probed access if this is the abort a probe expects.
bool handle_expected_fault(unsigned vector, TrapFrame& f);

} // namespace kernel
