// Capability invocations: the invoke system call with its five result registers.
#include "caps.hpp"

#include <aos/abi/syscall.hpp>

namespace aos::sys {

InvokeResult invoke(abi::CapAddr cap, abi::CapOp op, std::uint64_t a2, std::uint64_t a3, std::uint64_t a4,
                    std::uint64_t a5) {
    register std::uint64_t x0 __asm__("x0") = cap;
    register std::uint64_t x1 __asm__("x1") = static_cast<std::uint64_t>(op);
    register std::uint64_t x2 __asm__("x2") = a2;
    register std::uint64_t x3 __asm__("x3") = a3;
    register std::uint64_t x4 __asm__("x4") = a4;
    register std::uint64_t x5 __asm__("x5") = a5;
    register std::uint64_t x8 __asm__("x8") = static_cast<std::uint64_t>(abi::Syscall::invoke);
    __asm__ volatile("svc #0"
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5)
                     : "r"(x8)
                     : "memory");
    return {x0, {x1, x2, x3, x4, x5}};
}

namespace {

Result<void> status(const InvokeResult& r) {
    if (r.error == abi::syscall_success)
        return ok();
    return error(static_cast<Errc>(r.error));
}

} // namespace

Result<void> invoke_status(abi::CapAddr cap, abi::CapOp op, std::uint64_t a2, std::uint64_t a3,
                           std::uint64_t a4, std::uint64_t a5) {
    return status(invoke(cap, op, a2, a3, a4, a5));
}

Result<CapIdentity> cap_identify(abi::CapAddr cap) {
    InvokeResult r = invoke(cap, abi::CapOp::identify);
    AOS_TRY(status(r));
    return CapIdentity{.type = static_cast<abi::ObjType>(r.value[0] & 0xff),
                       .rights = static_cast<std::uint8_t>((r.value[0] >> 8) & 0xff),
                       .base = r.value[1],
                       .size = r.value[2],
                       .word = r.value[3],
                       .status = r.value[4]};
}

Result<void> cap_copy(abi::CapAddr cap, abi::CNodeRef cnode, std::uint32_t slot) {
    return status(invoke(cap, abi::CapOp::copy, abi::destination(cnode, slot)));
}

Result<void> cap_mint(abi::CapAddr cap, abi::CNodeRef cnode, std::uint32_t slot, std::uint8_t rights,
                      std::uint64_t badge) {
    return status(invoke(cap, abi::CapOp::mint, abi::destination(cnode, slot), rights, badge));
}

Result<void> cap_delete(abi::CapAddr cap) {
    return status(invoke(cap, abi::CapOp::remove));
}

Result<std::uint64_t> cap_revoke(abi::CapAddr cap) {
    InvokeResult r = invoke(cap, abi::CapOp::revoke);
    AOS_TRY(status(r));
    return r.value[0];
}

Result<void> cap_retype(abi::CapAddr ram, abi::ObjType type, std::uint64_t offset, std::uint64_t size,
                        std::uint32_t count, abi::CNodeRef cnode, std::uint32_t slot) {
    return status(invoke(ram, abi::CapOp::retype, abi::retype_type_count(type, count), offset, size,
                         abi::destination(cnode, slot)));
}

Result<void> vnode_map(abi::CapAddr table, abi::CapAddr source, std::uint32_t first, std::uint32_t count,
                       std::uint64_t offset, std::uint8_t rights, abi::CNodeRef cnode, std::uint32_t slot) {
    return status(invoke(table, abi::CapOp::vnode_map, source, abi::map_entries(first, count),
                         offset | rights, abi::destination(cnode, slot)));
}

Result<void> mapping_protect(abi::CapAddr mapping, std::uint32_t first, std::uint32_t count,
                             std::uint8_t rights) {
    return status(invoke(mapping, abi::CapOp::mapping_protect, rights, abi::map_entries(first, count)));
}

InvokeResult lmp_send_raw(abi::CapAddr endpoint, const LmpWords& words, abi::CapAddr cap) {
    static_assert(abi::lmp_word_registers[0] == 2 && abi::lmp_word_registers[5] == 7 &&
                      abi::lmp_word_registers[6] == 9 && abi::lmp_word_registers[7] == 10 &&
                      abi::lmp_cap_register == 11,
                  "the registers below");
    register std::uint64_t x0 __asm__("x0") = endpoint;
    register std::uint64_t x1 __asm__("x1") = static_cast<std::uint64_t>(abi::CapOp::endpoint_send);
    register std::uint64_t x2 __asm__("x2") = words[0];
    register std::uint64_t x3 __asm__("x3") = words[1];
    register std::uint64_t x4 __asm__("x4") = words[2];
    register std::uint64_t x5 __asm__("x5") = words[3];
    register std::uint64_t x6 __asm__("x6") = words[4];
    register std::uint64_t x7 __asm__("x7") = words[5];
    register std::uint64_t x8 __asm__("x8") = static_cast<std::uint64_t>(abi::Syscall::invoke);
    register std::uint64_t x9 __asm__("x9") = words[6];
    register std::uint64_t x10 __asm__("x10") = words[7];
    register std::uint64_t x11 __asm__("x11") = cap;
    __asm__ volatile("svc #0"
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5)
                     : "r"(x6), "r"(x7), "r"(x8), "r"(x9), "r"(x10), "r"(x11)
                     : "memory");
    return {x0, {x1, x2, x3, x4, x5}};
}

Result<void> lmp_send(abi::CapAddr endpoint, const LmpWords& words, abi::CapAddr cap) {
    return status(lmp_send_raw(endpoint, words, cap));
}

Result<LmpMessage> lmp_receive(abi::CapAddr endpoint, bool block, std::uint64_t cap_destination) {
    register std::uint64_t x0 __asm__("x0") = endpoint;
    register std::uint64_t x1 __asm__("x1") = static_cast<std::uint64_t>(abi::CapOp::endpoint_receive);
    register std::uint64_t x2 __asm__("x2") = cap_destination;
    register std::uint64_t x3 __asm__("x3") = block ? abi::receive_block : 0;
    register std::uint64_t x4 __asm__("x4");
    register std::uint64_t x5 __asm__("x5");
    register std::uint64_t x6 __asm__("x6");
    register std::uint64_t x7 __asm__("x7");
    register std::uint64_t x8 __asm__("x8") = static_cast<std::uint64_t>(abi::Syscall::invoke);
    register std::uint64_t x9 __asm__("x9");
    register std::uint64_t x10 __asm__("x10");
    register std::uint64_t x11 __asm__("x11");
    __asm__ volatile("svc #0"
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "=r"(x4), "=r"(x5), "=r"(x6), "=r"(x7),
                       "=r"(x9), "=r"(x10), "=r"(x11)
                     : "r"(x8)
                     : "memory");
    if (x0 != abi::syscall_success)
        return error(static_cast<Errc>(x0));
    return LmpMessage{.badge = x1, .words = {x2, x3, x4, x5, x6, x7, x9, x10}, .flags = x11};
}

abi::CapAddr own_dispatcher() {
    std::uint64_t self = 0;
    __asm__ volatile("mrs %0, tpidr_el0" : "=r"(self));
    return self != 0 ? *reinterpret_cast<const abi::CapAddr*>(self)
                     : abi::caddr(abi::root_slot_task, abi::task_slot_dispatcher);
}

namespace {

[[noreturn]] void fault_return(std::uint64_t how) {
    (void)invoke(own_dispatcher(), abi::CapOp::dispatcher_fault_return, how);
    // Only a failed invocation comes back (not in a handler, or no dispatcher capability).
    for (;;)
        (void)invoke(own_dispatcher(), abi::CapOp::dispatcher_stop);
}
} // namespace

Result<void> set_fault_handler(FaultHandler handler, void* stack_top) {
    return status(invoke(own_dispatcher(), abi::CapOp::dispatcher_set_fault_handler,
                         reinterpret_cast<std::uint64_t>(handler),
                         reinterpret_cast<std::uint64_t>(stack_top)));
}

void fault_resume() {
    fault_return(abi::fault_resume);
}

void fault_give_up() {
    fault_return(abi::fault_give_up);
}

Result<void> dispatcher_start(abi::CapAddr dispatcher) {
    return status(invoke(dispatcher, abi::CapOp::dispatcher_start));
}

Result<void> dispatcher_suspend(abi::CapAddr dispatcher) {
    return status(invoke(dispatcher, abi::CapOp::dispatcher_suspend));
}

Result<void> dispatcher_resume(abi::CapAddr dispatcher) {
    return status(invoke(dispatcher, abi::CapOp::dispatcher_resume));
}

Result<void> dispatcher_stop(abi::CapAddr dispatcher) {
    return status(invoke(dispatcher, abi::CapOp::dispatcher_stop));
}

} // namespace aos::sys
