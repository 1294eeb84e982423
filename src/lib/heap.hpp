// The process heap: malloc/free (and operator new/delete) on a region the process's paging state reserves
// lazily (paging.hpp), backed chunk by chunk on first touch from the RAM capability the parent left at
// abi::task_slot_ram; free gives the whole chunks of large free blocks back. A fault on the null page, on
// the guard page below the heap or outside any reservation stops the process with a report.
#pragma once

#include <aos/abi/capability.hpp>
#include <aos/core/result.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::user {
class PagingState;
}

namespace aos::heap {

inline constexpr std::uint64_t max_bytes = std::uint64_t{1} << 30;

struct Stats {
    std::uint64_t reserved = 0; // bytes morecore handed to malloc
    std::uint64_t backed = 0;   // bytes backed by frames now (touched, and not given back since)
    std::uint64_t faults = 0;
    std::uint64_t base = 0;       // where the heap's reservation starts
    std::uint64_t given_back = 0; // bytes free has given back: whole chunks of large free blocks (heap.cpp)
};

// Sets the heap up (the fault handler and the RAM); the first malloc does it when needed. not_found when
// the process has no RAM or no root VNode capability.
Result<void> init();
Stats stats();

// The process's paging state, which the heap sets up (null before the first malloc or init): programs map
// frames and reserve memory through it too.
user::PagingState* paging();

// The heap's page-fault handler: backs the chunk through the paging state, or prints why not and gives up
// (the kernel stops the process). A program with a handler of its own passes it the faults it does not
// handle itself.
[[noreturn]] void on_fault(std::uint64_t far, std::uint64_t esr, std::uint64_t elr);

// For threads (src/lib/thread.cpp): an object of `bytes` retyped from the heap's RAM into a slot of the
// heap's slot CNode, and the heap's page-fault handler installed for the calling thread on its own stack.
Result<abi::CapAddr> retype(abi::ObjType type, std::uint64_t bytes);
Result<void> install_fault_handler(void* stack_top);

} // namespace aos::heap

extern "C" {
// noexcept, as the C library's own declarations say (the two must agree where both are seen).
void* malloc(std::size_t size) noexcept;
void free(void* p) noexcept;
}
