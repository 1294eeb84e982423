// init's spawner: a process from an ELF boot module, built entirely through capabilities — its address
// space from VNodes, its segments and stack in frames retyped from RAM, its CSpace (root CNode with the
// task and slot-allocation CNodes, its dispatcher and root at the well-known slots) and its dispatcher.
//
//   aos::init::Spawner spawner(*aos::sys::bootinfo(), slots, ram, self);
//   aos::Result<aos::init::Child> c = spawner.spawn("hello");
#pragma once

#include "cap_vspace.hpp"

#include <aos/abi/bootinfo.hpp>
#include <aos/core/result.hpp>

#include <cstdint>

namespace aos::init {

// Where a child's pieces are in its address space.
inline constexpr std::uint64_t child_stack_top = std::uint64_t{1} << 30; // 1 GiB
inline constexpr std::uint64_t child_stack_bytes = 64 * 1024;
// Where the spawner maps a module and each segment for a moment (the `scratch_va` of its constructor):
// L0 entry 1, empty in init's address space and outside any paging state's part.
inline constexpr std::uint64_t scratch_window = std::uint64_t{1} << 39;
inline constexpr std::uint64_t child_cspace_bytes = abi::object_granule; // root CNode: 32 slots

struct Child {
    user::SlotAllocator::Slot dispatcher; // in init's CSpace: deleting it ends the child
    std::uint64_t id = 0;                 // the kernel's dispatcher number, as its reports print it
};

class Spawner {
public:
    // `scratch_va`: where init maps a module and each segment for a moment while it fills the child's memory.
    // `heap_bytes`: RAM each child gets at abi::task_slot_ram for its heap (0: none, malloc returns null).
    Spawner(const abi::BootInfo& bi, user::SlotAllocator& slots, user::RamSource& ram, user::CapVSpace& self,
            std::uint64_t scratch_va, std::uint64_t heap_bytes = 0)
        : bi_(bi), slots_(slots), ram_(ram), self_(self), scratch_(scratch_va), heap_bytes_(heap_bytes) {}

    // Builds and starts a process from a command line: its first word names the boot module, all of it
    // becomes the child's argc/argv (an arguments page, abi/args.hpp). Copies of `caps` (in init's CSpace)
    // go to the child's task CNode from abi::task_slot_arguments on. not_found for an unknown module;
    // invalid_argument for an empty command line or one the arguments page cannot hold; the ELF loader's
    // error for a bad image; out_of_range for more than abi::task_argument_slots capabilities. The arguments
    // page records every capability the child starts with (abi::CapRecord): the well-known ones and the
    // passed ones, named by `names` (default "arg0", "arg1", ...).
    Result<Child> spawn(const char* command_line, const abi::CapAddr* caps = nullptr, unsigned cap_count = 0,
                        const char* const* names = nullptr);
    // An endpoint (badged 1-64) the kernel notifies when the next child ends. Set before the child starts:
    // a child that ends at once must not end unnoticed.
    void set_end_notice(abi::CapAddr endpoint) { notice_ = endpoint; }
    // KEY=VALUE strings for the next spawns' environment (the strings must outlive them).
    void set_environment(const char* const* entries, unsigned count) {
        environment_ = entries;
        env_count_ = count;
    }

private:
    Result<std::uint32_t> module_index(const char* name) const;
    Result<void> map_arguments(user::CapVSpace& child, const char* command_line, const sys::CapIdentity* ids,
                               unsigned cap_count, const char* const* names, unsigned argument_cnode);

    const abi::BootInfo& bi_;
    user::SlotAllocator& slots_;
    user::RamSource& ram_;
    user::CapVSpace& self_;
    std::uint64_t scratch_;
    std::uint64_t heap_bytes_;
    const char* const* environment_ = nullptr;
    abi::CapAddr notice_ = abi::no_capability;
    unsigned env_count_ = 0;
    user::SlotAllocator::Slot args_frame_{}; // the last spawn's arguments page
};

} // namespace aos::init
