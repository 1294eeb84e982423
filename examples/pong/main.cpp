// The other end of the LMP test: receives requests (64-byte frames) on its own endpoint and answers each on
// the endpoint to its parent, both found by name in its arguments page's capability record. A request's word
// 0 is the operation: arithmetic (sum and product of words 1 and 2, and words 3..7 each plus its index), a
// capability check (the type and size of the capability that came along), a ping (the capability goes back
// with the answer), or quit.
#include "caps.hpp"
#include "print.hpp"
#include "syscalls.hpp"

namespace {

using namespace aos::abi;

CapAddr to_parent = no_capability;
CapAddr mine = no_capability;
// Where a capability that comes with a request lands: the process's own empty CNode.
constexpr std::uint32_t received_slot = 0;
constexpr CapAddr received = caddr(root_slot_slot_alloc0, received_slot);

enum Op : std::uint64_t { op_quit = 0, op_arith = 1, op_identify = 2, op_ping = 3 };

// Sends, waiting while the parent's queue is full (backpressure, not an error).
aos::Result<void> answer(const aos::sys::LmpWords& words, CapAddr cap) {
    for (;;) {
        aos::Result<void> sent = aos::sys::lmp_send(to_parent, words, cap);
        if (sent || sent.error() != aos::Errc::would_block)
            return sent;
        (void)aos::sys::yield();
    }
}

} // namespace

int main() {
    const CapRecord* parent = aos::sys::capability_record("parent");
    const CapRecord* own = aos::sys::capability_record("endpoint");
    if (parent == nullptr || own == nullptr || parent->type != static_cast<std::uint8_t>(ObjType::endpoint) ||
        own->type != static_cast<std::uint8_t>(ObjType::endpoint)) {
        aos::sys::print("pong: no endpoints in the capability record\n");
        return 1;
    }
    to_parent = parent->addr;
    mine = own->addr;
    unsigned served = 0;
    for (;;) {
        aos::Result<aos::sys::LmpMessage> m =
            aos::sys::lmp_receive(mine, true, destination(root_slot_slot_alloc0, received_slot));
        if (!m && m.error() == aos::Errc::would_block)
            continue; // it was suspended while waiting: wait again
        if (!m) {
            aos::sys::print("pong: receive failed: {}\n", m.error());
            return 1;
        }
        const std::uint64_t* w = m->words;
        if (w[0] == op_quit)
            break;
        aos::sys::LmpWords reply = {m->badge, w[1] + w[2], w[1] * w[2], 0, 0, 0, 0, 0};
        for (unsigned i = 3; i < lmp_words; ++i)
            reply[i] = w[i] + i;
        CapAddr pass = no_capability;
        bool got_cap = (m->flags & lmp_cap_delivered) != 0;
        if (w[0] == op_identify || w[0] == op_ping) {
            aos::Result<aos::sys::CapIdentity> id = aos::sys::cap_identify(received);
            reply[1] = got_cap && id ? static_cast<std::uint64_t>(id->type) : 0;
            reply[2] = id ? id->size : 0;
            if (w[0] == op_ping && got_cap)
                pass = received;
        }
        aos::Result<void> sent = answer(reply, pass);
        if (got_cap)
            (void)aos::sys::cap_delete(received);
        if (!sent) {
            aos::sys::print("pong: send failed: {}\n", sent.error());
            return 1;
        }
        ++served;
    }
    aos::sys::print("pong: served {} requests\n", served);
    return 0;
}
