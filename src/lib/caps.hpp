// Capability invocations for user programs (the interface is include/aos/abi/capability.hpp): one function
// per operation, returning aos::Result; invoke() gives the raw outcome, including which argument was wrong.
//
//   using namespace aos::abi;
//   AOS_TRY(aos::sys::cap_retype(caddr(root_slot_super, 0), ObjType::frame, 0, 4096, 1,
//   root_slot_slot_alloc0, 0));
#pragma once

#include <aos/abi/capability.hpp>
#include <aos/core/result.hpp>

#include <cstdint>

namespace aos::sys {

struct InvokeResult {
    std::uint64_t error;    // 0 or an Errc value
    std::uint64_t value[5]; // x1..x5; on an error value[0] is the number of the argument that was wrong
};

InvokeResult invoke(abi::CapAddr cap, abi::CapOp op, std::uint64_t a2 = 0, std::uint64_t a3 = 0,
                    std::uint64_t a4 = 0, std::uint64_t a5 = 0);

// invoke() as a Result, for operations without a result value.
Result<void> invoke_status(abi::CapAddr cap, abi::CapOp op, std::uint64_t a2 = 0, std::uint64_t a3 = 0,
                           std::uint64_t a4 = 0, std::uint64_t a5 = 0);

struct CapIdentity {
    abi::ObjType type;
    std::uint8_t rights;
    std::uint64_t base;
    std::uint64_t size;
    std::uint64_t word;   // endpoint badge or dispatcher id
    std::uint64_t status; // a dispatcher's: abi::dispatcher_status(), abi::dispatcher_exit_status()
};

Result<CapIdentity> cap_identify(abi::CapAddr cap);
// Into slot `slot` of the CNode `cnode` (abi::cnode_root, or the L2 CNode in that root slot).
Result<void> cap_copy(abi::CapAddr cap, abi::CNodeRef cnode, std::uint32_t slot);
Result<void> cap_mint(abi::CapAddr cap, abi::CNodeRef cnode, std::uint32_t slot, std::uint8_t rights,
                      std::uint64_t badge = 0);
Result<void> cap_delete(abi::CapAddr cap);
// How many descendants went.
Result<std::uint64_t> cap_revoke(abi::CapAddr cap);
// `count` objects of `size` bytes from `offset` into the RAM capability, into consecutive slots.
Result<void> cap_retype(abi::CapAddr ram, abi::ObjType type, std::uint64_t offset, std::uint64_t size,
                        std::uint32_t count, abi::CNodeRef cnode, std::uint32_t slot);

// Maps `count` pages of a frame from `offset` (or, with count 1 and offset 0, a table of the next level)
// into entries [first, first + count) of the VNode `table`; the mapping capability goes into (cnode, slot).
Result<void> vnode_map(abi::CapAddr table, abi::CapAddr source, std::uint32_t first, std::uint32_t count,
                       std::uint64_t offset, std::uint8_t rights, abi::CNodeRef cnode, std::uint32_t slot);

// Gives entries [first, first + count) of a frame's mapping (counted from its first entry) the rights
// `rights`: within those of the frame capability it was made from, never write and execute together.
Result<void> mapping_protect(abi::CapAddr mapping, std::uint32_t first, std::uint32_t count,
                             std::uint8_t rights);

// LMP on an endpoint capability: a 64-byte frame (eight words) and at most one capability per message.
using LmpWords = std::uint64_t[abi::lmp_words];
struct LmpMessage {
    std::uint64_t badge;
    std::uint64_t words[abi::lmp_words];
    std::uint64_t flags; // abi::lmp_cap_delivered, abi::lmp_cap_dropped
};
// The raw send, for callers that want the register the kernel found wrong (x11: the capability).
InvokeResult lmp_send_raw(abi::CapAddr endpoint, const LmpWords& words,
                          abi::CapAddr cap = abi::no_capability);
// would_block when the endpoint's queue is full (try again later).
Result<void> lmp_send(abi::CapAddr endpoint, const LmpWords& words, abi::CapAddr cap = abi::no_capability);
// `block`: wait for a message; otherwise would_block when there is none. A capability that comes with it goes
// to `cap_destination` (abi::destination()) if given.
Result<LmpMessage> lmp_receive(abi::CapAddr endpoint, bool block,
                               std::uint64_t cap_destination = abi::no_capability);

// User-level page faults on the calling dispatcher (its capability at the task CNode's dispatcher slot):
// `handler(far, esr, elr)` runs on `stack_top` after a translation or permission fault and must end with
// fault_resume() (the faulting instruction runs again) or fault_give_up() (the kernel stops the dispatcher
// and reports the fault). A fault inside the handler stops the dispatcher.
using FaultHandler = void (*)(std::uint64_t far, std::uint64_t esr, std::uint64_t elr);
// The calling thread's own dispatcher capability: the task CNode's for the first thread; a thread started by
// aos::thread keeps its own behind TPIDR_EL0 (whose first word is that address).
abi::CapAddr own_dispatcher();
Result<void> set_fault_handler(FaultHandler handler, void* stack_top);
[[noreturn]] void fault_resume();
[[noreturn]] void fault_give_up();

Result<void> dispatcher_start(abi::CapAddr dispatcher);
Result<void> dispatcher_suspend(abi::CapAddr dispatcher);
Result<void> dispatcher_resume(abi::CapAddr dispatcher);
Result<void> dispatcher_stop(abi::CapAddr dispatcher);

} // namespace aos::sys
