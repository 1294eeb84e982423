// Spawns a child with arguments and a capability: the parent asks init for RAM and passes it along; the
// child (`spawntree child`) retypes it into a frame, maps it in its own address space, writes and reads it.
#include "cap_vspace.hpp"
#include "print.hpp"
#include "rpc_client.hpp"

#include <aos/core/string_ref.hpp>

namespace {

using namespace aos::abi;

constexpr std::uint64_t ram_bytes = 1024 * 1024;
constexpr std::uint64_t frame_bytes = 64 * 1024;
constexpr std::uint64_t map_at = std::uint64_t{5} << 39; // an L0 entry nothing else uses
constexpr CapAddr passed_ram = caddr(root_slot_task, task_slot_arguments + 2);

int child(const char* tag) {
    auto id = aos::sys::cap_identify(passed_ram);
    if (!id || id->type != ObjType::ram) {
        aos::sys::print("spawntree {}: no RAM capability was passed\n", tag);
        return 1;
    }
    // Tables and the frame come from the passed RAM; their capabilities go to the second slot CNode.
    aos::user::SlotAllocator slots(root_slot_slot_alloc1);
    aos::user::RamSource ram(passed_ram, 0, id->size);
    aos::user::CapVSpace self(caddr(root_slot_page_cnode, 0), slots, ram);
    aos::Result<aos::user::SlotAllocator::Slot> frame = ram.retype(slots, ObjType::frame, frame_bytes);
    if (!frame || !self.map(map_at, frame->addr(), frame_bytes, right_read | right_write, nullptr)) {
        aos::sys::print("spawntree {}: cannot map the RAM\n", tag);
        return 1;
    }
    auto* words = reinterpret_cast<volatile std::uint64_t*>(map_at);
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

int main(int argc, char** argv) {
    if (argc > 2 && aos::core::StringRef::from_c_str(argv[1]).equals("child"))
        return child(argv[2]);
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
    return status && *status == 0 ? 0 : 1;
}
