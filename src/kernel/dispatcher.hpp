// The dispatcher object and the scheduler's interface inside the kernel: dispatch.cpp schedules and handles
// system calls, lmp.cpp queues messages on endpoints and wakes receivers, boot_programs.cpp loads the
// programs the kernel starts.
#pragma once

#include "arch/aarch64/trap_frame.hpp"
#include "caps.hpp"
#include "mmu.hpp"

#include <aos/abi/capability.hpp>
#include <aos/arch/aarch64/mmu.hpp>
#include <aos/core/list.hpp>

#include <cstddef>
#include <cstdint>

namespace kernel {

namespace a64 = aos::arch::aarch64;

inline constexpr std::uint64_t page = KernelArch::page_size;
inline constexpr unsigned max_dispatchers = 8;
inline constexpr unsigned tables_per_space = 16;
inline constexpr std::size_t name_max = 32;
// User address-space layout: programs are linked at 0x400000 (src/lib/user.ld); the stack ends below the
// top of the 48-bit lower half, with an unmapped guard page under it.
inline constexpr std::uint64_t user_space_end = std::uint64_t{1} << KernelArch::va_bits;
inline constexpr std::uint64_t user_stack_top = user_space_end - 16 * page;
inline constexpr std::uint64_t user_stack_size = 16 * page;
// V0-V31 (16 bytes each), then FPSR and FPCR: what fp_state.S saves.
inline constexpr std::uint64_t fp_state_bytes = 32 * 16 + 2 * 8;

// TLB maintenance for one address space: by VA within its ASID.
struct UserTlb {
    std::uint64_t asid = 0;
    void invalidate(std::uint64_t va, aos::vm::TlbScope scope) {
        std::uint64_t arg = a64::tlbi::by_va(va, asid);
        if (scope == aos::vm::TlbScope::leaf)
            __asm__ volatile("dsb ishst\n tlbi vale1is, %0" ::"r"(arg) : "memory");
        else
            __asm__ volatile("dsb ishst\n tlbi vae1is, %0" ::"r"(arg) : "memory");
    }
    void invalidate_all() {
        __asm__ volatile("dsb ishst\n tlbi aside1is, %0" ::"r"(a64::tlbi::by_asid(asid)) : "memory");
    }
    void publish() { __asm__ volatile("dsb ishst" ::: "memory"); }
    void sync() { __asm__ volatile("dsb ish\n isb" ::: "memory"); }
};
using UserBackend = aos::vm::SpanTableBackend<KernelArch, UserTlb>;
using UserPageTable = aos::vm::PageTable<KernelArch, UserBackend, KernelNodePool>;

// created: loaded, waiting for dispatcher_start; blocked: asleep until wake_at; receiving: waiting on an
// endpoint for a message; suspended: off every queue until resumed. The values are what identify reports.
enum class DispatcherState : std::uint8_t {
    free = static_cast<std::uint8_t>(aos::abi::DispatcherStatus::unset),
    created = static_cast<std::uint8_t>(aos::abi::DispatcherStatus::created),
    runnable = static_cast<std::uint8_t>(aos::abi::DispatcherStatus::runnable),
    blocked = static_cast<std::uint8_t>(aos::abi::DispatcherStatus::sleeping),
    receiving = static_cast<std::uint8_t>(aos::abi::DispatcherStatus::receiving),
    suspended = static_cast<std::uint8_t>(aos::abi::DispatcherStatus::suspended),
    exited = static_cast<std::uint8_t>(aos::abi::DispatcherStatus::exited),
    stopped = static_cast<std::uint8_t>(aos::abi::DispatcherStatus::stopped),
};

struct Endpoint;

struct alignas(16) FpState {
    unsigned char bytes[fp_state_bytes];
};

// A dispatcher is either one of the kernel's boot slots (the programs named on the command line, with an
// address space the kernel built: `table`) or made by retype from RAM, living in that memory, with an
// address space its creator built from VNode capabilities (`vspace`).
struct Dispatcher {
    aos::core::ListHook<Dispatcher> run_hook;
    aos::core::ListHook<Dispatcher> all_hook;
    DispatcherState state = DispatcherState::free;
    std::uint64_t wake_at = 0; // blocked in sleep: the counter value to wake at
    bool asleep_when_suspended = false;
    std::int32_t exit_status = 0;
    Endpoint* waiting_on = nullptr; // receiving: the endpoint
    std::uint64_t receive_dest = 0; // receiving: where a capability that comes with the message goes
    // User-level page faults: the handler, its stack, and the state of the faulting code while it runs.
    std::uint64_t fault_handler = 0;
    std::uint64_t fault_stack = 0;
    bool in_fault_handler = false;
    TrapFrame fault_frame = {};
    FpState fault_fp = {};
    unsigned id = 0;
    char name[name_max] = {};
    TrapFrame frame = {};
    FpState fp = {};
    UserTlb tlb;
    KernelNodePool::Slot node_slots[tables_per_space];
    void* records[tables_per_space] = {};
    alignas(UserBackend) unsigned char backend_storage[sizeof(UserBackend)];
    alignas(KernelNodePool) unsigned char pool_storage[sizeof(KernelNodePool)];
    alignas(UserPageTable) unsigned char table_storage[sizeof(UserPageTable)];
    UserPageTable* table = nullptr;
    Cte cspace; // a copy of its root CNode capability; empty: no CSpace
    Cte vspace; // a copy of its L0 VNode capability, for dispatchers made from RAM
    Cte notify; // an endpoint told when it ends (dispatcher_set_notify), or empty

    std::uint64_t root_table() const { return table != nullptr ? table->root_pa() : vspace.cap.base; }
    std::uint64_t ttbr0() const { return a64::ttbr::make(root_table(), tlb.asid); }
};
static_assert(sizeof(Dispatcher) <= aos::abi::dispatcher_bytes, "the ABI fixes the object size for retype");

// The scheduler, for the parts of the kernel that block and wake dispatchers.
Dispatcher& current_dispatcher();
// A blocked dispatcher becomes runnable (at the back of the run queue).
void make_runnable(Dispatcher& d);
// The running dispatcher leaves the run queue to wait in state `why` (the caller puts it where it waits).
void make_waiting(Dispatcher& d, DispatcherState why);
// The object a Dispatcher capability names.
Dispatcher& dispatcher_at(const Capability& c);

} // namespace kernel
