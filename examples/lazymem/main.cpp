// Lazily backed memory with RAM from init: reserves 256 MiB in the process's paging state, touches pages
// in random order (seed printed, `lazymem SEED` repeats), and its page-fault handler backs each 2 MiB piece
// on first touch with RAM it asks init for over RPC (at a 2 MiB boundary), mapped into the reservation with
// map_fixed as one 2 MiB block. Then it
// checks every page it wrote, reports the RAM it holds, and unmaps the reservation, whose page tables go.
#include "heap.hpp"
#include "paging.hpp"
#include "print.hpp"
#include "random.hpp"
#include "rpc_client.hpp"

namespace {

using namespace aos::abi;

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t page = object_granule;
constexpr std::uint64_t region_bytes = 256 * mib;
constexpr std::uint64_t piece = 2 * mib; // one block: one grant, one frame, one mapping
constexpr unsigned touches = 32;

struct Lazy {
    aos::user::PagingState* paging;
    std::uint64_t region;
    unsigned pieces;
};
constinit Lazy lazy{};
alignas(16) unsigned char handler_stack[32 * 1024];

[[noreturn]] void on_fault(std::uint64_t far, std::uint64_t esr, std::uint64_t elr) {
    if (far < lazy.region || far >= lazy.region + region_bytes)
        aos::heap::on_fault(far, esr, elr); // not ours: the heap's chunks, or a fault it reports
    std::uint64_t at = far & ~(piece - 1);
    std::uint32_t ram_slot = 2 * lazy.pieces;
    std::uint32_t frame_slot = ram_slot + 1;
    aos::Result<aos::rpc::RamGrant> ram = aos::rpc::get_ram(piece, piece, root_slot_slot_alloc1, ram_slot);
    aos::Result<void> made =
        ram ? aos::sys::cap_retype(ram->cap, ObjType::frame, 0, piece, 1, root_slot_slot_alloc1, frame_slot)
            : aos::Result<void>(aos::error(ram.error()));
    aos::Result<void> mapped = made ? lazy.paging->map_fixed(at, caddr(root_slot_slot_alloc1, frame_slot),
                                                             piece, right_read | right_write)
                                    : made;
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

} // namespace

int main(int argc, char** argv) {
    std::uint64_t seed = aos::user::seed_from(argc > 1 ? argv[1] : nullptr);
    aos::sys::print("lazymem: seed {}\n", seed);
    // Page tables and the paging state's metadata come from the heap's RAM; frames from one grant per piece.
    if (!aos::heap::init()) {
        aos::sys::print("lazymem: no paging state\n");
        return 1;
    }
    lazy.paging = aos::heap::paging();
    aos::user::PagingStats before = lazy.paging->stats();
    aos::Result<std::uint64_t> reserved = lazy.paging->reserve_lazy(region_bytes, 1, piece);
    if (!reserved)
        return 1;
    lazy.region = *reserved;
    if (!aos::sys::set_fault_handler(&on_fault, handler_stack + sizeof(handler_stack)))
        return 1;
    std::uint64_t region = lazy.region;

    std::uint64_t pages[touches];
    aos::user::Rng rng{seed};
    for (unsigned i = 0; i < touches; ++i) {
        pages[i] = rng.below(region_bytes / page);
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
    aos::user::PagingStats touched = lazy.paging->stats();
    bool unmapped = lazy.paging->unmap(lazy.region).has_value();
    aos::user::PagingStats after = lazy.paging->stats();
    // The paging state's own metadata may have grown meanwhile; it is kept, and counted apart.
    std::size_t made = touched.tables - touched.metadata_tables - (before.tables - before.metadata_tables);
    bool tables_back = after.tables - after.metadata_tables == before.tables - before.metadata_tables;
    aos::sys::print("lazymem: unmapped: {} page tables made for the pieces, {}\n", made,
                    unmapped && tables_back ? "all deleted" : "NOT ALL DELETED");
    return intact && unmapped && tables_back && st && st->ram_bytes == lazy.pieces * piece ? 0 : 1;
}
