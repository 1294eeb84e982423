// A process's paging state: the library's VaddrSpace (what is reserved, what is backed) and PageTable (the
// page-table tree) over VNode capabilities, with lazy backing on page faults. Every process's heap sits on
// one; any program may make its own over its L0 VNode.
//
//   aos::user::SlotAllocator slots(aos::abi::root_slot_slot_alloc0);
//   aos::user::RamSource ram(aos::abi::caddr(aos::abi::root_slot_task, aos::abi::task_slot_ram), 0,
//   ram_bytes); aos::user::PagingState paging(aos::abi::caddr(aos::abi::root_slot_task,
//   aos::abi::task_slot_root_vnode),
//                                 slots, ram);
//   AOS_TRY(paging.init());
//   std::uint64_t va = AOS_TRY(paging.map(frame, 64 * 1024, aos::abi::right_read | aos::abi::right_write));
//   std::uint64_t lazy = AOS_TRY(paging.reserve_lazy(256 << 20, 1));   // backed by handle_fault on touch
//   AOS_TRY(paging.unmap(va));                                          // tables freed when empty
#pragma once

#include "cap_vspace.hpp"
#include "sync.hpp"

#include <aos/abi/capability.hpp>
#include <aos/arch/aarch64/descriptors.hpp>
#include <aos/core/avl_tree.hpp>
#include <aos/core/result.hpp>
#include <aos/mm/slab.hpp>
#include <aos/vm/page_table.hpp>
#include <aos/vm/vaddr_space.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace aos::user {

using PagingArch = arch::aarch64::Granule4k;

struct VNodeTable;

// Consecutive entries of one table mapped from consecutive memory of one frame by one mapping capability
// (one vnode_map invocation): pages of an L3 table, or blocks (2 MiB of an L2 table, or 1 GiB of an L1 table
// for a whole aligned GiB) where the caller's frame
// and address allow. Runs are created and removed whole: a run lies inside one reservation, and a
// reservation is unmapped whole or given back (discard) only in ranges that cut no run.
struct MappingRun {
    MappingRun* next = nullptr;         // in its table's list
    MappingRun* next_cleared = nullptr; // on the backend's list of runs to delete
    VNodeTable* table = nullptr;
    SlotAllocator::Slot mapping{};
    SlotAllocator::Slot frame{};        // the frame capability, when the paging state made it (owns_frame)
    std::uint64_t frame_ram_offset = 0; // where that frame came from in the RAM source
    std::uint64_t frame_bytes = 0;
    abi::CapAddr frame_cap = 0;
    std::uint64_t frame_pa = 0;     // the frame's physical base (what the PageTable's descriptors hold)
    std::uint64_t frame_offset = 0; // of entry `first` in the frame
    std::uint16_t first = 0;
    std::uint16_t count = 0;
    std::uint16_t cleared = 0;
    std::uint8_t rights = 0; // it was mapped with (protect may have changed some of its pages since)
    std::uint8_t held = 0;   // the frame capability's rights: what protect may give its pages
    bool device = false;     // a device frame (never executable)
    bool owns_frame = false;
};

// One page table as user space sees it: a VNode capability and a shadow of its descriptors (EL0 cannot read
// the kernel's copy). Its "physical address", the key the PageTable files it under, is the real address of
// the RAM page it is made from; the VNode itself is retyped only when it is linked, the first moment its
// level is known.
struct VNodeTable {
    std::uint64_t shadow[PagingArch::entries] = {};
    core::TreeHook<VNodeTable> hook;
    std::uint64_t pa = 0;
    std::uint64_t ram_offset = 0;
    SlotAllocator::Slot vnode{};
    SlotAllocator::Slot link{}; // the mapping capability that links it into its parent
    abi::CapAddr cap = 0;
    MappingRun* runs = nullptr;
    std::uint8_t level = 0;
    bool made = false; // the VNode has been retyped
    bool linked = false;
    bool root = false;
};

using TableNode = vm::TableNode<VNodeTable*>;

// Objects taken from a slab before a PageTable operation starts, handed out during it: a slab refill maps
// memory through this same PageTable, which must not happen in the middle of one of its operations. Refills
// nest, so each operation takes its objects above a mark (mm::NodeBatch::take_more) and gives back to it.
template <class T, class SlabT, std::size_t N>
class Prefetched {
public:
    explicit Prefetched(SlabT& slab) : slab_(slab) {}
    Result<std::size_t> fill(std::size_t want) { return batch_.take_more(slab_, want); }
    void drain(std::size_t mark) { batch_.give_back_to(slab_, mark); }
    T* allocate() { return batch_.count > 0 ? batch_.pop() : nullptr; }
    void deallocate(T* t) { slab_.deallocate(t); }

private:
    SlabT& slab_;
    mm::NodeBatch<T, N> batch_;
};

class PagingState;

// A slab's memory: frames the paging state retypes, reserves and maps for itself.
struct PagingRefill {
    PagingState* paging = nullptr;
    Result<std::span<std::byte>> refill(std::size_t bytes);
};

using VNodeTableSlab = mm::Slab<VNodeTable, PagingRefill>;
using RunSlab = mm::Slab<MappingRun, PagingRefill>;
using TableNodeSlab = mm::Slab<TableNode, PagingRefill>;
using VaddrNodeSlab = mm::Slab<vm::VaddrNode, PagingRefill>;

inline constexpr std::size_t tables_per_piece = PagingArch::levels - 1;
// Nesting: one refill per slab at most, each taking tables for one piece.
inline constexpr std::size_t prefetch_depth = 5 * tables_per_piece;
using TablePrefetch = Prefetched<VNodeTable, VNodeTableSlab, prefetch_depth>;
using TableNodePrefetch = Prefetched<TableNode, TableNodeSlab, prefetch_depth>;

// The PageTable's Backend over VNode capabilities. Leaf writes between two flushes must form one run, set
// up by begin_run; clears are collected and the runs they empty deleted at the next flush (publish,
// invalidate or sync). The kernel invalidates the TLB when a mapping capability goes, so invalidation
// here is only that flush. A capability invocation that fails after the paging state checked everything
// it could is a broken invariant and stops the process with a report.
class VNodeBackend {
public:
    using Handle = VNodeTable*;

    VNodeBackend(VNodeTable& root, TablePrefetch& tables, RunSlab& runs, SlotAllocator& slots, RamSource& ram)
        : root_(root), tables_(tables), runs_(runs), slots_(slots), ram_(ram) {}

    void set_ram_base(std::uint64_t pa) { ram_base_ = pa; }
    std::uint64_t ram_base() const { return ram_base_; }
    // The run the next leaf writes form: its frame and rights, a run object and its mapping slot.
    void begin_run(MappingRun* run) { pending_ = run; }
    MappingRun* end_run();

    Result<vm::NewTable<Handle>> create_table();
    std::uint64_t read(Handle h, unsigned i) const { return h->shadow[i]; }
    void write(Handle h, unsigned i, std::uint64_t d);
    void free_table(Handle h);
    void publish() { flush(); }
    void invalidate(std::uint64_t, vm::TlbScope) { flush(); }
    void invalidate_all() { flush(); }
    void sync() { flush(); }

    // The table whose RAM page is at `pa`, or null.
    VNodeTable* table_at(std::uint64_t pa) const;
    // From now on free_table forgets a table instead of deleting it (the paging state is going away).
    void detach() { detached_ = true; }
    std::size_t live_runs() const { return live_runs_; }
    // Each table's runs: inside the table, not overlapping, over leaf entries (pages, or blocks in an L2 or
    // L1 table) only, every leaf entry in one; as many as live_runs().
    [[nodiscard]] bool check_runs() const;

private:
    struct ByPa {
        static bool less(const VNodeTable& a, const VNodeTable& b) { return a.pa < b.pa; }
    };

    void link(VNodeTable& parent, unsigned i, std::uint64_t d);
    void unlink(std::uint64_t old);
    void clear_leaf(VNodeTable& t, unsigned i);
    void flush();
    void flush_pending();
    void delete_run(MappingRun* r);
    // The run of table t that maps entry i (a page or a block), or null.
    static MappingRun* run_at(const VNodeTable& t, unsigned i);
    void queue_protect(VNodeTable& t, unsigned i, std::uint8_t rights);
    void flush_protect();

    VNodeTable& root_;
    TablePrefetch& tables_;
    RunSlab& runs_;
    SlotAllocator& slots_;
    RamSource& ram_;
    std::uint64_t ram_base_ = 0;
    core::AvlTree<VNodeTable, &VNodeTable::hook, ByPa> by_pa_;
    bool root_given_ = false;
    MappingRun* pending_ = nullptr;
    bool pending_flushed_ = false;
    MappingRun* cleared_ = nullptr;
    // Consecutive entries of one run given the same new rights in place (PageTable::protect), sent as one
    // mapping_protect (entries that already had those rights are not rewritten, and end a stretch).
    struct PendingProtect {
        MappingRun* run = nullptr;
        unsigned first = 0;
        unsigned count = 0;
        std::uint8_t rights = 0;
    };
    PendingProtect protect_;
    std::size_t live_runs_ = 0;
    bool detached_ = false;
};

using UserPageTable = vm::PageTable<PagingArch, VNodeBackend, TableNodePrefetch>;

// Why a page fault was not resolved.
enum class PagingFault : std::uint8_t {
    null_page,
    unreserved,
    guard_page,
    protection,
    no_memory,
    mapping_gone
};
const char* to_string(PagingFault f);

struct PagingStats {
    vm::VaddrStats vaddr;
    std::size_t tables = 0; // the root included
    std::size_t runs = 0;   // mapping capabilities of leaves
    std::uint64_t faults = 0;
    std::uint64_t ram_used = 0; // bytes of the RAM source in use
    // What the paging state made for its own slabs (mapped above metadata_lo, outside `vaddr`), counted in
    // the figures above and kept for the process's life: subtract it to see the caller's mappings alone.
    std::size_t metadata_tables = 0;
    std::size_t metadata_runs = 0;
    std::uint64_t metadata_bytes = 0; // RAM: the slabs' frames and the tables made to map them
};

class PagingState {
public:
    // The part of the address space a paging state manages: L0 entries 4 to 255 (2 TiB to 128 TiB).
    // Below are the program image, the arguments page and init's fixed windows; above, the stack. Its last
    // L0 entry holds the paging state's own metadata, so that no page table is shared between the caller's
    // mappings and the metadata, which stays for good.
    static constexpr std::uint64_t window_lo = std::uint64_t{4} << 39;
    static constexpr std::uint64_t metadata_lo = std::uint64_t{255} << 39;
    static constexpr std::uint64_t window_hi = std::uint64_t{256} << 39;
    // A fault backs this much of a lazy reservation at once (one frame, one mapping capability).
    static constexpr std::uint64_t lazy_chunk = 16 * PagingArch::page_size;

    PagingState(abi::CapAddr l0, SlotAllocator& slots, RamSource& ram);
    PagingState(const PagingState&) = delete;
    PagingState& operator=(const PagingState&) = delete;
    // Leaves every mapping in place, its own metadata's included (mapped through the tables it keeps, so
    // there is no order in which it could take itself apart): they go with the address space.
    ~PagingState() { backend_.detach(); }

    // Reads the L0 VNode's and the RAM's addresses and gives the slabs their first memory. not_found
    // when `l0` is not an L0 VNode or the RAM source not a RAM capability.
    Result<void> init();

    // Maps `bytes` (rounded up to pages) of `frame` from its start at a free address, which it returns: at a
    // 2 MiB boundary, as 2 MiB blocks, when the frame's memory starts at one (pages for the rest), unless
    // `blocks` is Blocks::forbidden (pages only: new rights for single pages later, see protect).
    // Errors (nothing changed): invalid_argument (not a frame, or rights without read or with write and
    // execute), permission_denied (rights beyond the frame's), out_of_range (bytes beyond the frame),
    // no_memory.
    Result<std::uint64_t> map(abi::CapAddr frame, std::uint64_t bytes, std::uint8_t rights,
                              vm::Blocks blocks = vm::Blocks::allowed);
    // As map, at `va`: in free space, or in an unbacked part of a lazy reservation (whole lazy_chunks, else
    // misaligned), which it backs. Also misaligned for an unaligned `va`, and overlap. Blocks (unless
    // forbidden) where `va` and the frame's memory are at a block's boundary together: 2 MiB, or 1 GiB for a
    // whole aligned GiB.
    Result<void> map_fixed(std::uint64_t va, abi::CapAddr frame, std::uint64_t bytes, std::uint8_t rights,
                           vm::Blocks blocks = vm::Blocks::allowed);
    // Reserves `bytes` (rounded up to lazy_chunk) readable and writable, backed chunk by chunk as
    // handle_fault is called (or by the caller's map_fixed into it); `guard_pages` unmapped pages below it.
    // Returns the start, a multiple of `align` (a power of two, at least lazy_chunk).
    Result<std::uint64_t> reserve_lazy(std::uint64_t bytes, std::uint64_t guard_pages = 0,
                                       std::uint64_t align = lazy_chunk);
    // Removes the reservation or mapping starting at `va`: what is backed is unmapped, frames the paging
    // state made for lazy backing are deleted and their RAM reused, tables that become empty are deleted.
    // The caller's frames stay its own. Errors: not_found.
    Result<void> unmap(std::uint64_t va);
    // Gives the pages of [va, va + bytes) new rights in place (mprotect), inside one mapping made by map or
    // map_fixed in free space: some read, never write and execute together (W^X), within the rights of the
    // frame capability each page comes from. So a page can become read-only and writable again, or code
    // written through a writable mapping become executable (aos::user::sync_code first). A map made of
    // blocks takes new rights for whole blocks only (map with Blocks::forbidden for single pages). Errors
    // (nothing changed): zero_size, misaligned, not_found (no mapping at va, or its frame's last capability
    // was deleted, which took the mapping with it), out_of_range (past it), invalid_argument (a lazy
    // reservation; part of a block; rights without read, with write and execute, or execute on a device
    // frame), permission_denied (more than a frame capability has).
    Result<void> protect(std::uint64_t va, std::uint64_t bytes, std::uint8_t rights);
    // Gives back the backed chunks of [va, va + bytes) inside one lazy reservation (madvise(MADV_DONTNEED)):
    // they are unmapped, frames the paging state made for them are deleted and their RAM reused, tables that
    // become empty are deleted; a later touch backs a fresh zeroed chunk. The reservation stays. A caller's
    // frame mapped there with map_fixed is unmapped and stays the caller's. Errors (nothing changed):
    // zero_size, misaligned (not whole lazy_chunks), not_found (no reservation at va), out_of_range (past
    // it or into its guard pages), invalid_argument (not a lazy reservation, or the range would cut one of
    // the caller's fixed maps in two), no_memory. Returns how many bytes were backed there.
    Result<std::uint64_t> discard(std::uint64_t va, std::uint64_t bytes);
    // Backs the chunk holding `far` if it lies in a lazy reservation and is not backed yet. `esr` is the
    // fault's syndrome: a translation fault on a page that is backed by now was raced by another thread
    // that backed it first, and is resolved (mapping_gone if the same page keeps faulting so: its frame
    // capability was deleted under it); a permission fault there is `protection`.
    Result<void, PagingFault> handle_fault(std::uint64_t far, std::uint64_t esr);

    // An object of `bytes` retyped from the same RAM into one of the same slots (for threads' dispatchers
    // and stacks), under the same lock.
    Result<abi::CapAddr> retype(abi::ObjType type, std::uint64_t bytes);

    PagingStats stats() const;
    [[nodiscard]] bool check_invariants() const;

private:
    friend struct PagingRefill;

    // A frame to map: its physical base, the rights its capability has, whether it is a device frame.
    struct FrameInfo {
        std::uint64_t pa = 0;
        std::uint8_t held = 0;
        bool device = false;
    };
    // A frame the paging state made itself (lazy chunks, metadata): read and write, never more.
    static FrameInfo own_frame(std::uint64_t pa) { return {pa, abi::right_read | abi::right_write, false}; }

    Result<void> map_locked(std::uint64_t va, abi::CapAddr frame, const FrameInfo& info, std::uint64_t bytes,
                            std::uint8_t rights, const MappingRun* owned,
                            vm::Blocks blocks = vm::Blocks::forbidden);
    Result<void> map_piece(std::uint64_t va, std::uint64_t bytes, const MappingRun& source,
                           vm::Blocks blocks);
    const VNodeTable* leaf_holder(std::uint64_t va, unsigned& level) const;
    Result<void> map_reserved(std::uint64_t va, abi::CapAddr frame, const FrameInfo& info,
                              std::uint64_t bytes, std::uint8_t rights, vm::Blocks blocks);
    Result<void> check_protect(std::uint64_t va, std::uint64_t end, std::uint8_t rights) const;
    Result<std::span<std::byte>> refill(std::size_t bytes);
    Result<std::span<std::byte>> map_metadata(std::size_t bytes);
    void count_metadata(PagingStats& s) const;
    void count_subtree(const VNodeTable& t, unsigned level, PagingStats& s) const;
    const VNodeTable* child_table(const VNodeTable& t, unsigned i, unsigned level) const;
    Result<std::uint64_t> back_chunk(std::uint64_t at);
    std::size_t missing_tables(std::uint64_t va) const;
    bool inside_one_run(std::uint64_t va) const;
    Result<void> check_frame(abi::CapAddr frame, std::uint64_t bytes, std::uint8_t rights,
                             FrameInfo& info) const;
    std::uint64_t ram_base() const { return backend_.ram_base(); }

    // The first memory of each slab, before the paging state can map any of its own.
    template <class T, std::size_t Objects>
    struct BootArena {
        alignas(64) std::byte bytes[Objects * sizeof(T) + 256];
    };

    abi::CapAddr l0_;
    SlotAllocator& slots_;
    RamSource& ram_;
    mutable thread::Mutex lock_;
    PagingRefill refill_{this};
    VNodeTableSlab table_slab_;
    RunSlab run_slab_;
    TableNodeSlab node_slab_;
    VaddrNodeSlab vaddr_slab_;
    TablePrefetch tables_{table_slab_};
    TableNodePrefetch nodes_{node_slab_};
    VNodeTable root_;
    VNodeBackend backend_;
    UserPageTable table_;
    vm::VaddrSpace<VaddrNodeSlab> space_;
    std::uint64_t faults_ = 0;
    // Translation faults on a page already backed (see handle_fault): how often in a row, and where.
    static constexpr unsigned max_raced = 64;
    std::uint64_t raced_page_ = 0;
    unsigned raced_count_ = 0;
    std::uint64_t metadata_next_ = metadata_lo;
    std::uint64_t metadata_frame_bytes_ = 0;
    bool ready_ = false;
    BootArena<VNodeTable, 2 * tables_per_piece + 3> table_boot_;
    BootArena<MappingRun, 24> run_boot_;
    BootArena<TableNode, 24> node_boot_;
    BootArena<vm::VaddrNode, 24> vaddr_boot_;
};

} // namespace aos::user
