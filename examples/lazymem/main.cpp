// Lazily backed memory with RAM from init: reserves 256 MiB, touches pages in random order (seed printed,
// `lazymem SEED` repeats), and its page-fault handler backs each 2 MiB piece on first touch with RAM it
// asks init for over RPC. Then it checks every page it wrote and reports the RAM it holds; init takes it
// all back when it exits.
#include "cap_vspace.hpp"
#include "print.hpp"
#include "rpc_client.hpp"

namespace {

using namespace aos::abi;

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t page = object_granule;
constexpr std::uint64_t region = std::uint64_t{6} << 39; // L0 entry 6, nothing else there
constexpr std::uint64_t region_bytes = 256 * mib;
constexpr std::uint64_t piece = 2 * mib; // one L3 table's worth: one grant, one frame, one mapping
constexpr unsigned touches = 32;
constexpr std::uint64_t table_ram = 512 * 1024;

struct Lazy {
    aos::user::SlotAllocator* slots;
    aos::user::RamSource* tables;
    aos::user::CapVSpace* space;
    unsigned pieces;
};
constinit Lazy lazy{};
alignas(16) unsigned char handler_stack[32 * 1024];

[[noreturn]] void on_fault(std::uint64_t far, std::uint64_t, std::uint64_t elr) {
    if (far < region || far >= region + region_bytes) {
        aos::sys::print("lazymem: fault at {:x} (ELR {:x}) outside the reservation\n", far, elr);
        aos::sys::fault_give_up();
    }
    std::uint64_t at = far & ~(piece - 1);
    aos::Result<aos::user::SlotAllocator::Slot> ram_slot = lazy.slots->alloc();
    aos::Result<aos::rpc::RamGrant> ram =
        ram_slot ? aos::rpc::get_ram(piece, piece, ram_slot->cnode, ram_slot->index)
                 : aos::Result<aos::rpc::RamGrant>(aos::error(aos::Errc::no_memory));
    aos::Result<aos::user::SlotAllocator::Slot> frame = lazy.slots->alloc();
    aos::Result<void> made =
        !ram     ? aos::Result<void>(aos::error(ram.error()))
        : !frame ? aos::Result<void>(aos::error(frame.error()))
                 : aos::sys::cap_retype(ram->cap, ObjType::frame, 0, piece, 1, frame->cnode, frame->index);
    aos::Result<void> mapped =
        made ? lazy.space->map(at, frame->addr(), piece, right_read | right_write, nullptr) : made;
    if (!mapped) {
        aos::sys::print("lazymem: cannot back {:x}: {} ({})\n", at, mapped.error(),
                        !ram   ? "RAM"
                        : made ? "map"
                               : "retype");
        aos::sys::fault_give_up();
    }
    ++lazy.pieces;
    aos::sys::fault_resume();
}

std::uint64_t parse(const char* s) {
    std::uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; ++s)
        v = v * 10 + static_cast<std::uint64_t>(*s - '0');
    return v;
}

} // namespace

int main(int argc, char** argv) {
    std::uint64_t seed = (argc > 1 ? parse(argv[1]) : aos::sys::counter()) | 1;
    aos::sys::print("lazymem: seed {}\n", seed);
    // Tables come from a small grant of their own; frames from one grant per 2 MiB piece.
    aos::user::SlotAllocator slots(root_slot_slot_alloc1);
    aos::Result<aos::user::SlotAllocator::Slot> table_slot = slots.alloc();
    aos::Result<aos::rpc::RamGrant> tables_ram =
        table_slot ? aos::rpc::get_ram(table_ram, page, table_slot->cnode, table_slot->index)
                   : aos::Result<aos::rpc::RamGrant>(aos::error(aos::Errc::no_memory));
    if (!tables_ram) {
        aos::sys::print("lazymem: no RAM for tables\n");
        return 1;
    }
    aos::user::RamSource tables(tables_ram->cap, 0, tables_ram->size);
    aos::user::CapVSpace space(caddr(root_slot_page_cnode, 0), slots, tables);
    lazy = Lazy{&slots, &tables, &space, 0};
    if (!aos::sys::set_fault_handler(&on_fault, handler_stack + sizeof(handler_stack)))
        return 1;

    std::uint64_t pages[touches];
    std::uint64_t s = seed;
    for (unsigned i = 0; i < touches; ++i) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        pages[i] = (s * 0x2545f4914f6cdd1d) % (region_bytes / page);
        *reinterpret_cast<volatile std::uint64_t*>(region + pages[i] * page) = pages[i] * 0x9e3779b97f4a7c15;
    }
    bool intact = true;
    for (unsigned i = 0; i < touches; ++i)
        intact = intact && *reinterpret_cast<volatile std::uint64_t*>(region + pages[i] * page) ==
                               pages[i] * 0x9e3779b97f4a7c15;
    aos::Result<aos::rpc::Pid> me = aos::rpc::handshake();
    aos::Result<aos::rpc::ProcessStatus> st = me ? aos::rpc::status(*me) : aos::error(aos::Errc::not_found);
    aos::sys::print("lazymem: {} pages touched in 256 MiB, {} pieces of 2 MiB backed, contents {}\n", touches,
                    lazy.pieces, intact ? "intact" : "WRONG");
    aos::sys::print("lazymem: init accounts {} KiB of RAM to this process; it comes back at exit\n",
                    st ? st->ram_bytes / 1024 : 0);
    return intact && st && st->ram_bytes == table_ram + lazy.pieces * piece ? 0 : 1;
}
