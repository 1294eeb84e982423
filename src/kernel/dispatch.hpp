// Dispatchers: user programs from the boot modules running at EL0, each in its own address space (TTBR0,
// its own ASID), scheduled round robin on the timer tick. System calls and user faults arrive here.
#pragma once

#include "arch/aarch64/trap_frame.hpp"
#include "caps.hpp"
#include "platform.hpp"

#include <aos/abi/bootinfo.hpp>
#include <aos/abi/modules.hpp>
#include <aos/boot/cmdline.hpp>
#include <aos/core/result.hpp>

#include <cstdint>

namespace kernel {

// Lets programs read the virtual counter and the instruction counter, and routes console input to the
// endpoint a program asks for.
void dispatch_init();

// The programs the kernel starts itself (boot_programs.cpp). boot_frames_init prepares the frame
// allocator their address spaces and init's CSpace come from: the RAM the kernel image and the device tree
// do not use (zeroed frames, never taken back). Then spawn_module loads module `name` into a new address
// space; `start` makes it runnable, otherwise it waits for init to invoke dispatcher_start on its capability.
void boot_frames_init(const Platform& p);
aos::Result<unsigned> spawn_module(const aos::abi::ModuleTable& modules, aos::core::StringRef name,
                                   bool start);

struct LoadedProgram {
    unsigned id;
    bool started;
};

// Gives dispatcher `id` (init) its CSpace (with a RAM capability per free region and the dispatcher
// capabilities of `programs`) and the bootinfo page. Call after every program is loaded: the RAM it hands
// over must stay free.
aos::Result<void> setup_init(unsigned id, const LoadedProgram* programs, unsigned count, const Platform& p,
                             const aos::abi::ModuleTable& modules, const char* cmdline);

// Dispatchers made by retype from RAM (caps.cpp): how many more can exist (each needs an ASID), making one
// in zeroed memory at `pa` (returns its id), and ending one whose last capability went; the capabilities it
// held (its CSpace and address-space roots) are handed back for the caller to release.
unsigned dispatcher_asids_free();
std::uint64_t dispatcher_construct(std::uint64_t pa);
void dispatcher_destroy(std::uint64_t pa, Cte*& cspace, Cte*& vspace, Cte*& notify);
// What identify reports of a dispatcher capability (abi::dispatcher_status_word).
std::uint64_t dispatcher_status_word(const Capability& c);
// The capability to a dispatcher's address-space root went (revoked or deleted): the dispatcher stops.
void dispatcher_lost_address_space(void* dispatcher);

// Runs the dispatchers until every one has exited or been stopped, then ends the run.
[[noreturn]] void run_dispatchers(std::uint64_t quantum_us);

// Exceptions taken from EL0 (vector index from the lower-EL AArch64 group).
void handle_user_exception(unsigned index, TrapFrame& frame);

} // namespace kernel
