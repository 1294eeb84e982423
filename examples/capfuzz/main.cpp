// Random capability invocations, valid and invalid mixed, from a test init: the kernel must answer each
// with a result or an error, never fault, and keep its mapping database consistent (it checks when this
// program exits). The seed is printed; `capfuzz=SEED` on the command line repeats a run.
#include "caps.hpp"
#include "print.hpp"
#include "random.hpp"

#include <aos/boot/cmdline.hpp>

namespace {

using namespace aos::abi;

constexpr unsigned iterations = 20000;
constexpr std::uint64_t page = object_granule;

using aos::user::Rng;

// Mostly addresses that name something (or an empty slot next to it), sometimes garbage.
CapAddr pick_address(Rng& r) {
    switch (r.below(8)) {
    case 0:
        return caddr(root_slot_task, static_cast<std::uint32_t>(r.below(6)));
    case 1:
        return caddr(root_slot_super, static_cast<std::uint32_t>(r.below(3)));
    case 2:
        return caddr(root_slot_modules, static_cast<std::uint32_t>(r.below(20)));
    case 3:
        return root_slot_caddr(static_cast<std::uint32_t>(r.below(16)));
    case 4:
        return r.next();
    default:
        return caddr(root_slot_slot_alloc0, static_cast<std::uint32_t>(r.below(48)));
    }
}

std::uint64_t pick_destination(Rng& r) {
    switch (r.below(6)) {
    case 0:
        return destination(cnode_root, static_cast<std::uint32_t>(r.below(20)));
    case 1:
        return destination(cnode_at(pick_address(r)), static_cast<std::uint32_t>(r.below(300)));
    case 2:
        return r.next();
    default:
        return destination(root_slot_slot_alloc0, static_cast<std::uint32_t>(r.below(48)));
    }
}

std::uint64_t pick_size(Rng& r) {
    switch (r.below(6)) {
    case 0:
        return r.next();
    case 1:
        return l2_cnode_bytes;
    case 2:
        return dispatcher_bytes;
    default:
        return page * (1 + r.below(8)) + (r.below(10) == 0 ? 8 : 0);
    }
}

// The size retype expects for a type (a page for the sizeless ones).
std::uint64_t sized(ObjType t) {
    switch (t) {
    case ObjType::l2_cnode:
        return l2_cnode_bytes;
    case ObjType::dispatcher:
        return dispatcher_bytes;
    case ObjType::endpoint:
        return endpoint_bytes;
    default:
        return page;
    }
}

// Operations that cannot stop or block this program: no suspend, stop, start or fault handler on anything
// (a started garbage dispatcher could spin forever), no blocking receive.
constexpr CapOp safe_ops[] = {CapOp::identify,
                              CapOp::copy,
                              CapOp::mint,
                              CapOp::remove,
                              CapOp::revoke,
                              CapOp::retype,
                              CapOp::vnode_map,
                              CapOp::mapping_protect,
                              CapOp::endpoint_send,
                              CapOp::endpoint_receive,
                              CapOp::dispatcher_setup,
                              CapOp::dispatcher_configure};

} // namespace

int main() {
    const BootInfo* bi = aos::sys::bootinfo();
    if (bi == nullptr)
        return 2;
    aos::boot::CommandLine cmdline(bi->cmdline);
    Rng rng{cmdline.number("capfuzz").value_or(aos::sys::counter()) | 1};
    aos::sys::print("capfuzz: seed {} (repeat with capfuzz={})\n", rng.s, rng.s);
    unsigned accepted = 0;
    for (unsigned i = 0; i < iterations; ++i) {
        CapAddr target = pick_address(rng);
        CapOp op = rng.below(20) == 0 ? static_cast<CapOp>(rng.below(64))
                                      : safe_ops[rng.below(sizeof(safe_ops) / sizeof(safe_ops[0]))];
        if (op == CapOp::dispatcher_start || op == CapOp::dispatcher_suspend ||
            op == CapOp::dispatcher_stop || op == CapOp::dispatcher_set_fault_handler ||
            op == CapOp::dispatcher_fault_return)
            op = CapOp::identify;
        // Keep slots turning over, so retypes and copies keep finding room.
        if (rng.below(4) == 0) {
            target = caddr(root_slot_slot_alloc0, static_cast<std::uint32_t>(rng.below(48)));
            op = rng.below(4) == 0 ? CapOp::revoke : CapOp::remove;
        }
        // Deleting the RAM, the task CNode or a root slot would end the search early (everything after would
        // fail the same way): those stay, and are revoked instead.
        bool precious = caddr_is_root_slot(target) || caddr_l1(target) == root_slot_super ||
                        caddr_l1(target) == root_slot_task;
        if (op == CapOp::remove && precious)
            op = CapOp::revoke;
        std::uint64_t a[4] = {rng.next(), rng.next(), rng.next(), rng.next()};
        switch (op) {
        case CapOp::copy:
        case CapOp::mint:
            a[0] = pick_destination(rng);
            a[1] = rng.below(16);
            a[2] = rng.below(4) == 0 ? rng.next() : 0;
            break;
        case CapOp::retype: {
            // Mostly well-formed: a RAM capability, a real type with its size, a free-looking slot.
            auto type = static_cast<ObjType>(rng.below(obj_type_count + 1));
            a[0] = retype_type_count(type, static_cast<std::uint32_t>(rng.below(4)));
            a[1] = rng.below(3) == 0 ? rng.next() : page * rng.below(4096);
            a[2] = rng.below(3) == 0 ? pick_size(rng) : sized(type);
            a[3] = pick_destination(rng);
            if (rng.below(2) == 0)
                target = caddr(root_slot_super, 0);
            break;
        }
        case CapOp::vnode_map:
            a[0] = pick_address(rng);
            if (rng.below(3) == 0)
                target =
                    caddr(root_slot_task, task_slot_root_vnode); // its own root table, entries 1-511 empty
            a[1] = map_entries(static_cast<std::uint32_t>(rng.below(520)),
                               static_cast<std::uint32_t>(rng.below(4)));
            a[2] = page * rng.below(4) | rng.below(16);
            a[3] = pick_destination(rng);
            break;
        case CapOp::mapping_protect:
            // Rights of every combination, mostly entries inside a small mapping (the ones vnode_map made).
            a[0] = rng.below(3) == 0 ? rng.next() : rng.below(16);
            a[1] = map_entries(static_cast<std::uint32_t>(rng.below(4)),
                               static_cast<std::uint32_t>(rng.below(4)));
            break;
        case CapOp::endpoint_send:
            a[3] = rng.below(2) == 0 ? no_capability : pick_address(rng);
            break;
        case CapOp::endpoint_receive:
            a[0] = rng.below(2) == 0 ? no_capability : pick_destination(rng);
            a[1] = 0; // never wait: nobody would wake this program
            break;
        case CapOp::dispatcher_setup:
            a[0] = pick_address(rng);
            a[1] = pick_address(rng);
            break;
        default:
            break;
        }
        aos::sys::InvokeResult r = aos::sys::invoke(target, op, a[0], a[1], a[2], a[3]);
        accepted += r.error == syscall_success ? 1 : 0;
    }
    aos::sys::print("capfuzz: {} invocations, {} accepted, the kernel answered every one\n", iterations,
                    accepted);
    return 0;
}
