// The other end of the LMP test: receives requests on its own endpoint (task slot arguments + 1) and
// answers each on the endpoint to its parent (task slot arguments): the sum and product of two words, or the
// type of a capability that came along. A request with operation 0 ends it.
#include "caps.hpp"
#include "print.hpp"

namespace {

using namespace aos::abi;

constexpr CapAddr to_parent = caddr(root_slot_task, task_slot_arguments);
constexpr CapAddr mine = caddr(root_slot_task, task_slot_arguments + 1);
// Where a capability that comes with a request lands: the process's own empty CNode.
constexpr std::uint32_t received_slot = 0;

enum Op : std::uint64_t { op_quit = 0, op_arith = 1, op_identify = 2 };

} // namespace

int main() {
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
        std::uint64_t a = m->words[1], b = m->words[2];
        std::uint64_t r0 = a + b, r1 = a * b;
        if (m->words[0] == op_quit)
            break;
        if (m->words[0] == op_identify) {
            aos::Result<aos::sys::CapIdentity> id =
                aos::sys::cap_identify(caddr(root_slot_slot_alloc0, received_slot));
            r0 = (m->flags & lmp_cap_delivered) != 0 && id ? static_cast<std::uint64_t>(id->type) : 0;
            r1 = id ? id->size : 0;
            (void)aos::sys::cap_delete(caddr(root_slot_slot_alloc0, received_slot));
        }
        // The parent may not be waiting yet: a full queue is backpressure, not an error.
        aos::Result<void> sent = aos::error(aos::Errc::would_block);
        while (!sent && sent.error() == aos::Errc::would_block) {
            sent = aos::sys::lmp_send(to_parent, m->badge, r0, r1);
            if (!sent && sent.error() == aos::Errc::would_block)
                (void)aos::sys::yield();
        }
        if (!sent) {
            aos::sys::print("pong: send failed: {}\n", sent.error());
            return 1;
        }
        ++served;
    }
    aos::sys::print("pong: served {} requests\n", served);
    return 0;
}
