// A test init for LMP: spawns pong with two endpoints (one to answer on, one to receive requests on), sends
// it 64-byte requests and checks every answer and badge, fills pong's queue while pong is suspended, plays
// ping-pong 10^4 times with a frame capability travelling both ways, and checks the refused sends and
// receives with their argument numbers.
#include "checks.hpp"
#include "print.hpp"
#include "spawn.hpp"

namespace {

constinit aos::user::Checks checks{"lmptest"};

using namespace aos::abi;
using aos::Errc;
using aos::sys::InvokeResult;

constexpr std::uint64_t page = object_granule;
constexpr std::uint64_t pong_badge = 0x90;
constexpr std::uint64_t request_count = 200;
constexpr unsigned ping_count = 10000;

enum Op : std::uint64_t { op_quit = 0, op_arith = 1, op_identify = 2, op_ping = 3 };

// The words of request i: the operation, then values to compute on.
void request(aos::sys::LmpWords& w, Op op, std::uint64_t i) {
    w[0] = op;
    for (unsigned k = 1; k < lmp_words; ++k)
        w[k] = i * 7 + k;
}

// What pong answers to an arithmetic request.
bool answered(const aos::sys::LmpMessage& r, const aos::sys::LmpWords& q) {
    bool good = r.badge == pong_badge && r.words[1] == q[1] + q[2] && r.words[2] == q[1] * q[2];
    for (unsigned k = 3; k < lmp_words; ++k)
        good = good && r.words[k] == q[k] + k;
    return good;
}

struct Endpoints {
    CapAddr mine;  // init receives here
    CapAddr to_me; // badged, send-only: pong's way to init
    CapAddr pong;  // pong receives here; init sends
};

} // namespace

int main() {
    const BootInfo* bi = aos::sys::require_bootinfo("lmptest");
    if (bi == nullptr)
        return 2;
    aos::user::SlotAllocator slots(root_slot_slot_alloc0);
    aos::user::RamSource ram(caddr(root_slot_super, 0), 0, bi->free_ram[0].size);
    aos::user::CapVSpace self(caddr(root_slot_task, task_slot_root_vnode), slots, ram);
    aos::init::Spawner spawner(*bi, slots, ram, self, aos::init::scratch_window);

    auto mine = ram.retype(slots, ObjType::endpoint, endpoint_bytes);
    auto pong_ep = ram.retype(slots, ObjType::endpoint, endpoint_bytes);
    auto to_me = slots.alloc();
    auto receive_only = slots.alloc();
    auto frame = ram.retype(slots, ObjType::frame, 2 * page);
    checks.check("retype two endpoints and a frame", mine && pong_ep && to_me && receive_only && frame);
    if (!mine || !pong_ep || !to_me || !receive_only || !frame)
        return 1;
    checks.check(
        "mint a badged send-only endpoint",
        aos::sys::cap_mint(mine->addr(), to_me->cnode, to_me->index, right_write | right_grant, pong_badge)
            .has_value());
    checks.check("mint a receive-only copy of pong's endpoint",
                 aos::sys::cap_mint(pong_ep->addr(), receive_only->cnode, receive_only->index, right_read)
                     .has_value());
    Endpoints ep{mine->addr(), to_me->addr(), pong_ep->addr()};

    checks.refused("receive on an empty endpoint without waiting",
                   aos::sys::invoke(ep.mine, CapOp::endpoint_receive, no_capability, 0), Errc::would_block,
                   0);
    aos::sys::LmpWords probe = {op_arith, 1, 2, 3, 4, 5, 6, 7};
    checks.refused("send without the write right", aos::sys::lmp_send_raw(receive_only->addr(), probe),
                   Errc::permission_denied, 0);
    checks.refused("receive without the read right",
                   aos::sys::invoke(ep.to_me, CapOp::endpoint_receive, no_capability, 0),
                   Errc::permission_denied, 0);
    checks.refused("send a capability that is not there",
                   aos::sys::lmp_send_raw(ep.pong, probe, caddr(root_slot_slot_alloc0, 250)), Errc::not_found,
                   lmp_cap_register);
    checks.refused("receive with unknown flags",
                   aos::sys::invoke(ep.mine, CapOp::endpoint_receive, no_capability, 6),
                   Errc::invalid_argument, 3);
    // A root CNode slot takes only an L2 CNode, but what will arrive is not known yet: the receive waits
    // (here: nothing is queued, so would_block on the endpoint) instead of refusing the destination.
    checks.refused(
        "receive into an empty root CNode slot waits for what comes",
        aos::sys::invoke(ep.mine, CapOp::endpoint_receive, destination(cnode_root, root_slot_first_free), 0),
        Errc::would_block, 0);
    checks.refused("receive into an occupied slot",
                   aos::sys::invoke(ep.mine, CapOp::endpoint_receive,
                                    destination(root_slot_slot_alloc0, mine->index), 0),
                   Errc::already_exists, 2);
    checks.refused(
        "mint a second badge",
        aos::sys::invoke(ep.to_me, CapOp::mint, destination(root_slot_slot_alloc0, 251), rights_all, 5),
        Errc::invalid_state, 4);

    // Pong starts suspended-free; its first receive blocks until a request arrives.
    const CapAddr passed[] = {ep.to_me, ep.pong};
    const char* const names[] = {"parent", "endpoint"};
    aos::Result<aos::init::Child> pong = spawner.spawn("pong", passed, 2, names);
    checks.check("spawn pong with the two endpoints", pong.has_value());
    if (!pong)
        return 1;

    bool all_right = true;
    for (std::uint64_t i = 1; i <= request_count; ++i) {
        aos::sys::LmpWords q;
        request(q, op_arith, i);
        aos::Result<void> s = aos::sys::lmp_send(ep.pong, q);
        aos::Result<aos::sys::LmpMessage> r = aos::sys::lmp_receive(ep.mine, true);
        bool good = s && r && answered(*r, q);
        if (!good && all_right)
            aos::sys::print("lmptest: request {}: send {}, receive {}, badge {:x}\n", i,
                            s ? "ok" : aos::to_string(s.error()), r ? "ok" : aos::to_string(r.error()),
                            r ? r->badge : 0);
        all_right = all_right && good;
    }
    checks.check("200 requests answered, each with pong's badge", all_right);

    // With pong suspended nobody receives: the queue holds lmp_queue_length messages, then refuses.
    checks.check("suspend pong", aos::sys::dispatcher_suspend(pong->dispatcher.addr()).has_value());
    unsigned queued = 0;
    aos::sys::LmpWords q;
    for (;;) {
        request(q, op_arith, queued);
        if (!aos::sys::lmp_send(ep.pong, q))
            break;
        ++queued;
    }
    checks.check("the queue held exactly lmp_queue_length messages", queued == lmp_queue_length);
    checks.refused("send to a full queue", aos::sys::lmp_send_raw(ep.pong, probe), Errc::would_block, 0);
    checks.check("resume pong", aos::sys::dispatcher_resume(pong->dispatcher.addr()).has_value());
    unsigned answered_in_order = 0;
    for (unsigned i = 0; i < queued; ++i) {
        aos::Result<aos::sys::LmpMessage> r = aos::sys::lmp_receive(ep.mine, true);
        request(q, op_arith, i);
        answered_in_order += r && answered(*r, q) ? 1 : 0; // answers come back in order
    }
    checks.check("every queued request answered, in order", answered_in_order == queued);

    request(q, op_identify, 0);
    checks.check("send a frame capability along", aos::sys::lmp_send(ep.pong, q, frame->addr()).has_value());
    aos::Result<aos::sys::LmpMessage> id = aos::sys::lmp_receive(ep.mine, true);
    checks.check("pong received a frame of two pages",
                 id && id->words[1] == static_cast<std::uint64_t>(ObjType::frame) &&
                     id->words[2] == 2 * page);
    checks.check("and init still has its own", aos::sys::cap_identify(frame->addr()).has_value());

    // The instructions of the send path (system call in and out, lookup, queueing), best of ten, next to an
    // identify for scale. Non-zero only under QEMU's -icount.
    std::uint64_t send_cost = ~std::uint64_t{0}, identify_cost = ~std::uint64_t{0};
    for (unsigned i = 0; i < 10; ++i) {
        std::uint64_t t0 = aos::sys::instructions();
        InvokeResult sr = aos::sys::lmp_send_raw(ep.to_me, probe);
        std::uint64_t t1 = aos::sys::instructions();
        InvokeResult ir = aos::sys::invoke(ep.mine, CapOp::identify);
        std::uint64_t t2 = aos::sys::instructions();
        if (sr.error == 0 && ir.error == 0) {
            send_cost = t1 - t0 < send_cost ? t1 - t0 : send_cost;
            identify_cost = t2 - t1 < identify_cost ? t2 - t1 : identify_cost;
        }
        (void)aos::sys::lmp_receive(ep.mine, false);
    }
    // No successful sample prints 0, which the instruction-count test refuses.
    constexpr std::uint64_t none = ~std::uint64_t{0};
    aos::sys::print("lmptest: LMP send {} instructions, identify {} (EL0 and EL1, best of 10)\n",
                    send_cost == none ? 0 : send_cost, identify_cost == none ? 0 : identify_cost);

    // Ping-pong: the frame capability goes to pong and comes back with every answer.
    std::uint64_t back = destination(root_slot_slot_alloc0, 200);
    unsigned round_trips = 0;
    for (unsigned i = 0; i < ping_count; ++i) {
        request(q, op_ping, i);
        if (!aos::sys::lmp_send(ep.pong, q, frame->addr()))
            break;
        aos::Result<aos::sys::LmpMessage> r = aos::sys::lmp_receive(ep.mine, true, back);
        bool good = r && (r->flags & lmp_cap_delivered) != 0 &&
                    r->words[1] == static_cast<std::uint64_t>(ObjType::frame) && r->words[2] == 2 * page;
        for (unsigned k = 3; good && k < lmp_words; ++k)
            good = r->words[k] == q[k] + k;
        if (!good || !aos::sys::cap_delete(caddr(root_slot_slot_alloc0, 200)))
            break;
        ++round_trips;
    }
    aos::sys::print("lmptest: {} round trips, a capability each way\n", round_trips);
    checks.check("10^4 round trips with a capability each way", round_trips == ping_count);

    request(q, op_quit, 0);
    checks.check("tell pong to stop", aos::sys::lmp_send(ep.pong, q).has_value());
    return checks.finish();
}
