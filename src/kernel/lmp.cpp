// LMP endpoints: send delivers straight into a waiting receiver's saved registers (and its capability into
// the receiver's CSpace), or queues the message; receive takes the oldest message or waits for one.
#include "lmp.hpp"

#include "dispatcher.hpp"
#include "memory_layout.hpp"

#include <aos/abi/syscall.hpp>
#include <aos/core/list.hpp>

#include <new>

namespace kernel {

struct LmpMessage {
    Cte cap; // the capability in flight (in the mapping database as a copy), or empty
    std::uint64_t badge = 0;
    std::uint64_t words[aos::abi::lmp_words] = {};
};

struct Endpoint {
    aos::core::IntrusiveList<Dispatcher, &Dispatcher::run_hook> receivers; // waiting, oldest first
    std::uint32_t head = 0;
    std::uint32_t count = 0;
    std::uint64_t notified = 0; // bit b-1: badge b's notification is pending
    LmpMessage queue[lmp_queue_length];
};
static_assert(sizeof(Endpoint) <= aos::abi::endpoint_bytes, "the ABI fixes the object size for retype");

namespace {

using aos::Errc;
using aos::abi::ObjType;

Endpoint& endpoint_at(std::uint64_t pa) {
    return *reinterpret_cast<Endpoint*>(phys_to_virt(pa));
}

using Words = std::uint64_t[aos::abi::lmp_words];

// A receive's results: x0 = success, x1 = the badge, the words in their registers, the flags in x11.
void write_delivery(TrapFrame& to, std::uint64_t badge, const Words& words, std::uint64_t flags) {
    to.x[0] = aos::abi::syscall_success;
    to.x[1] = badge;
    for (unsigned i = 0; i < aos::abi::lmp_words; ++i)
        to.x[aos::abi::lmp_word_registers[i]] = words[i];
    to.x[aos::abi::lmp_cap_register] = flags;
}

// A capability that came with a message goes to the receiver's destination, if it names a slot this type
// may go to: copied from the sender's slot, or moved out of the queue (where it is deleted otherwise).
// Returns the flags the receiver sees.
std::uint64_t place_cap(const Cte& root, std::uint64_t dest, Cte& cap, bool from_queue) {
    aos::Result<Cte*> d = dest == aos::abi::no_capability ? aos::Result<Cte*>(aos::error(Errc::not_found))
                                                          : cap_destination(root, dest, cap.cap.type);
    if (d) {
        if (from_queue)
            cap_move(**d, cap);
        else
            install_copy(**d, cap);
        return aos::abi::lmp_cap_delivered;
    }
    if (from_queue)
        cap_delete(cap);
    return aos::abi::lmp_cap_dropped;
}

// Hands a message to a receiver that was waiting: registers, capability, runnable.
void deliver_to_waiter(Dispatcher& r, std::uint64_t badge, const Words& words, Cte* cap) {
    std::uint64_t flags = cap != nullptr ? place_cap(r.cspace, r.receive_dest, *cap, false) : 0;
    write_delivery(r.frame, badge, words, flags);
    make_runnable(r);
}

InvokeOutcome send(const Cte& root, const Cte& target, const TrapFrame& frame) {
    Endpoint& ep = endpoint_at(target.cap.base);
    if ((target.cap.rights & aos::abi::right_write) == 0)
        return InvokeOutcome::failure(Errc::permission_denied, arg_target);
    Cte* cap = nullptr;
    std::uint64_t cap_addr = frame.x[aos::abi::lmp_cap_register];
    if (cap_addr != aos::abi::no_capability) {
        aos::Result<Cte*> c = cap_lookup(root, cap_addr);
        if (!c)
            return InvokeOutcome::failure(c.error(), aos::abi::lmp_cap_register);
        if ((*c)->cap.type == ObjType::mapping)
            return InvokeOutcome::failure(Errc::invalid_argument, aos::abi::lmp_cap_register);
        if (((*c)->cap.rights & aos::abi::right_grant) == 0)
            return InvokeOutcome::failure(Errc::permission_denied, aos::abi::lmp_cap_register);
        cap = *c;
    }
    Words words;
    for (unsigned i = 0; i < aos::abi::lmp_words; ++i)
        words[i] = frame.x[aos::abi::lmp_word_registers[i]];
    if (Dispatcher* r = ep.receivers.front()) {
        (void)ep.receivers.erase(*r);
        deliver_to_waiter(*r, target.cap.word, words, cap);
        return InvokeOutcome::success();
    }
    if (ep.count == lmp_queue_length)
        return InvokeOutcome::failure(Errc::would_block, arg_target);
    LmpMessage& m = ep.queue[(ep.head + ep.count) % lmp_queue_length];
    ++ep.count;
    m.badge = target.cap.word;
    for (unsigned i = 0; i < aos::abi::lmp_words; ++i)
        m.words[i] = words[i];
    if (cap != nullptr)
        install_copy(m.cap, *cap);
    return InvokeOutcome::success();
}

InvokeOutcome receive(const Cte& root, const Cte& target, TrapFrame& frame) {
    Endpoint& ep = endpoint_at(target.cap.base);
    if ((target.cap.rights & aos::abi::right_read) == 0)
        return InvokeOutcome::failure(Errc::permission_denied, arg_target);
    // The destination must be usable now (a CNode slot that is empty); what arrives is checked again.
    std::uint64_t dest = frame.x[arg2];
    if (dest != aos::abi::no_capability) {
        aos::Result<Cte*> d = cap_destination_any(root, dest);
        if (!d)
            return InvokeOutcome::failure(d.error(), arg2);
    }
    std::uint64_t flags_in = frame.x[arg3];
    if ((flags_in & ~aos::abi::receive_block) != 0)
        return InvokeOutcome::failure(Errc::invalid_argument, arg3);
    InvokeOutcome written = InvokeOutcome::success();
    written.registers_written = true;
    if (ep.notified != 0) {
        unsigned bit = static_cast<unsigned>(__builtin_ctzll(ep.notified));
        ep.notified &= ep.notified - 1;
        const Words none = {};
        write_delivery(frame, bit + 1, none, aos::abi::lmp_notification);
        return written;
    }
    if (ep.count == 0) {
        if ((flags_in & aos::abi::receive_block) == 0)
            return InvokeOutcome::failure(Errc::would_block, arg_target);
        Dispatcher& self = current_dispatcher();
        make_waiting(self, DispatcherState::receiving);
        self.waiting_on = &ep;
        self.receive_dest = dest;
        (void)ep.receivers.push_back(self);
        return written; // the registers are written when a message comes
    }
    LmpMessage& m = ep.queue[ep.head];
    ep.head = (ep.head + 1) % lmp_queue_length;
    --ep.count;
    std::uint64_t flags = m.cap.empty() ? 0 : place_cap(root, dest, m.cap, true);
    write_delivery(frame, m.badge, m.words, flags);
    return written;
}

} // namespace

void endpoint_construct(std::uint64_t pa) {
    ::new (reinterpret_cast<void*>(phys_to_virt(pa))) Endpoint();
}

unsigned endpoint_destroy(std::uint64_t pa, Cte* (&queued)[lmp_queue_length]) {
    Endpoint& ep = endpoint_at(pa);
    while (Dispatcher* r = ep.receivers.front()) {
        (void)ep.receivers.erase(*r);
        r->frame.x[0] = aos::abi::encode_error(Errc::not_found);
        r->frame.x[1] = 0;
        make_runnable(*r);
    }
    unsigned n = 0;
    for (unsigned i = 0; i < ep.count; ++i) {
        LmpMessage& m = ep.queue[(ep.head + i) % lmp_queue_length];
        if (!m.cap.empty())
            queued[n++] = &m.cap;
    }
    ep.count = 0;
    return n;
}

bool is_endpoint_op(aos::abi::CapOp op) {
    return op == aos::abi::CapOp::endpoint_send || op == aos::abi::CapOp::endpoint_receive;
}

InvokeOutcome invoke_endpoint(const Cte& root, const Cte& target, aos::abi::CapOp op, TrapFrame& frame) {
    if (op == aos::abi::CapOp::endpoint_send)
        return send(root, target, frame);
    return receive(root, target, frame);
}

void endpoint_notify(std::uint64_t pa, std::uint64_t badge) {
    Endpoint& ep = endpoint_at(pa);
    if (Dispatcher* r = ep.receivers.front()) {
        (void)ep.receivers.erase(*r);
        const Words none = {};
        write_delivery(r->frame, badge, none, aos::abi::lmp_notification);
        make_runnable(*r);
        return;
    }
    ep.notified |= std::uint64_t{1} << (badge - 1);
}

void lmp_cancel_receive(Dispatcher& d) {
    if (d.waiting_on != nullptr)
        (void)d.waiting_on->receivers.erase(d);
    d.waiting_on = nullptr;
}

} // namespace kernel
