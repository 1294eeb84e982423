// Spawns a child with arguments and a capability: the parent asks init for RAM and passes it along; the
// child (`spawntree child`) retypes it into a frame, maps it in its own address space, writes and reads it.
#include "heap.hpp"
#include "paging.hpp"
#include "print.hpp"
#include "rpc_client.hpp"

#include <aos/core/string_ref.hpp>

namespace {

using namespace aos::abi;

constexpr std::uint64_t ram_bytes = 1024 * 1024;
constexpr std::uint64_t frame_bytes = 64 * 1024;

int child(const char* tag) {
    // Where the parent's RAM is: the arguments page's record says, under the name init gave it.
    const CapRecord* passed = aos::sys::capability_record("passed");
    CapAddr passed_ram = passed != nullptr ? passed->addr : no_capability;
    auto id = aos::sys::cap_identify(passed_ram);
    if (!id || id->type != ObjType::ram) {
        aos::sys::print("spawntree {}: no RAM capability was passed\n", tag);
        return 1;
    }
    // The frame comes from the passed RAM, into the second slot CNode; the process's paging state maps it
    // wherever it has room.
    aos::Result<void> frame =
        aos::sys::cap_retype(passed_ram, ObjType::frame, 0, frame_bytes, 1, root_slot_slot_alloc1, 0);
    aos::user::PagingState* paging = aos::heap::init() ? aos::heap::paging() : nullptr;
    aos::Result<std::uint64_t> at =
        frame && paging != nullptr
            ? paging->map(caddr(root_slot_slot_alloc1, 0), frame_bytes, right_read | right_write)
            : aos::Result<std::uint64_t>(aos::error(aos::Errc::not_found));
    if (!at) {
        aos::sys::print("spawntree {}: cannot map the RAM: {}\n", tag, at.error());
        return 1;
    }
    auto* words = reinterpret_cast<volatile std::uint64_t*>(*at);
    for (std::uint64_t i = 0; i < frame_bytes / 8; i += 512)
        words[i] = i ^ 0xa5a5;
    bool good = true;
    for (std::uint64_t i = 0; i < frame_bytes / 8; i += 512)
        good = good && words[i] == (i ^ 0xa5a5);
    aos::sys::print("spawntree {}: wrote and read {} KiB of the {} KiB its parent passed: {}\n", tag,
                    frame_bytes / 1024, id->size / 1024, good ? "ok" : "WRONG");
    return good ? 0 : 1;
}

} // namespace

// A child that was passed a CNode finds it as its argument CNode, with what the parent put in it.
int cnode_child() {
    auto cn = aos::sys::cap_identify(root_slot_caddr(root_slot_argument_cnode));
    auto inside = aos::sys::cap_identify(caddr(root_slot_argument_cnode, 0));
    bool good = cn && cn->type == ObjType::l2_cnode && inside && inside->type == ObjType::ram;
    aos::sys::print("spawntree cnode: the argument CNode and the RAM in it: {}\n", good ? "ok" : "MISSING");
    return good ? 0 : 1;
}

int main(int argc, char** argv) {
    if (argc > 2 && aos::core::StringRef::from_c_str(argv[1]).equals("child"))
        return child(argv[2]);
    if (argc > 1 && aos::core::StringRef::from_c_str(argv[1]).equals("cnode"))
        return cnode_child();
    aos::Result<aos::rpc::RamGrant> ram = aos::rpc::get_ram(ram_bytes, 4096, root_slot_slot_alloc1, 0);
    if (!ram) {
        aos::sys::print("spawntree: no RAM from init: {}\n", ram.error());
        return 1;
    }
    aos::Result<aos::rpc::Pid> pid =
        aos::rpc::spawn_with_cap(aos::core::StringRef::from_c_str("spawntree child first"), ram->cap);
    if (!pid) {
        aos::sys::print("spawntree: cannot spawn the child: {}\n", pid.error());
        return 1;
    }
    aos::Result<std::int32_t> status = aos::rpc::wait(*pid);
    aos::sys::print("spawntree: child {:x} ended with status {}\n", *pid, status ? *status : -100);
    // The same with a CNode: retyped from the rest of the RAM, a RAM capability put in it, passed along.
    // (Offsets past what the first child used: its objects may still be on their way out.)
    CapAddr cnode = caddr(root_slot_slot_alloc1, 1);
    bool filled = aos::sys::cap_retype(ram->cap, ObjType::l2_cnode, frame_bytes * 2, l2_cnode_bytes, 1,
                                       root_slot_slot_alloc1, 1) &&
                  aos::sys::cap_retype(ram->cap, ObjType::ram, frame_bytes * 4, frame_bytes, 1,
                                       root_slot_slot_alloc1, 2) &&
                  aos::sys::cap_copy(caddr(root_slot_slot_alloc1, 2), cnode_at(cnode), 0);
    aos::Result<aos::rpc::Pid> second =
        filled ? aos::rpc::spawn_with_cap(aos::core::StringRef::from_c_str("spawntree cnode"), cnode)
               : aos::Result<aos::rpc::Pid>(aos::error(aos::Errc::no_memory));
    aos::Result<std::int32_t> status2 =
        second ? aos::rpc::wait(*second) : aos::Result<std::int32_t>(aos::error(aos::Errc::not_found));
    aos::sys::print("spawntree: the CNode child ended with status {}\n", status2 ? *status2 : -100);
    return status && *status == 0 && status2 && *status2 == 0 ? 0 : 1;
}
