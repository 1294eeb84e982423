// aos::vm::VaddrSpace: the virtual address bookkeeping of one address space (behind paging_alloc,
// paging_map_fixed, morecore and lazy page-fault backing). Regions are the entries of a B+ tree keyed by
// address whose inner nodes know the largest free gap below each child; each region keeps its backed
// parts, coalesced, in its own backing (a few inline, more in a small tree), so a fully touched lazy region
// costs at most two nodes however it was touched. Every operation is O(log n).
//
//   aos::vm::VaddrSpace<MySlab> vs(slab, 0x1000, 0x8000'0000'0000);
//   auto heap = AOS_TRY(vs.reserve(1 << 30, 4096, aos::vm::Backing::Lazy));
//   auto page = vs.fault(addr);                  // Result<uint64_t, FaultError>: the page to back
//   if (page) { map_frame(*page); AOS_TRY(vs.mark_backed(*page, 4096)); }
//   AOS_TRY(vs.release(heap, [&](uint64_t base, uint64_t size) { unmap(base, size); }));
#pragma once

#include <aos/arch/page.hpp>
#include <aos/core/avl_tree.hpp>
#include <aos/core/btree.hpp>
#include <aos/core/lock.hpp>
#include <aos/core/result.hpp>
#include <aos/mm/slab.hpp>

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>

namespace aos::vm {

enum class Backing : std::uint8_t {
    Lazy,  // backed page by page as faults arrive
    Eager, // the caller maps all of it right away: recorded as backed from the start
};

// Why a page fault cannot be resolved by backing a page.
enum class FaultError : std::uint8_t {
    null_page,  // an access to the first page: a null pointer
    unreserved, // no region holds the address
    guard_page, // the address is in a region's guard pages (a stack overflow)
    protection, // the page is already backed: the access itself was not allowed
};

constexpr const char* to_string(FaultError e) {
    switch (e) {
    case FaultError::null_page:
        return "null page";
    case FaultError::unreserved:
        return "unreserved address";
    case FaultError::guard_page:
        return "guard page";
    case FaultError::protection:
        return "protection fault";
    }
    return "unknown fault";
}

struct VaddrNode;
namespace detail {

// The node layouts, all in one VaddrNode so that one slab feeds a space. A region is an entry in a leaf of
// a B+ tree keyed by base, stored inline (five words): a lookup at 10^5 regions reads 6 tree nodes and
// nothing else unless the region is backed, where an AVL tree of one node per region read ~20 nodes with a
// hard-to-predict branch at each. Inline regions keep the structure small (~5 MB at 10^5 regions, the
// inner nodes ~0.5 MB of it, so that a lookup's misses are mostly its leaf). 256-byte nodes measured
// faster than 128-byte ones at 10^3 and 10^5 regions (fewer levels).
inline constexpr std::size_t vaddr_node_bytes = 256;
inline constexpr std::size_t vaddr_leaf_cap = 6;
inline constexpr std::size_t vaddr_inner_cap = 10;

// A backed range of one region, in that region's own small AVL tree.
struct VaddrBacked {
    core::TreeHook<VaddrBacked> hook;
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    VaddrNode* self = nullptr;
    std::uint64_t end() const { return base + size; }
};

struct BackedOrder {
    static bool less(const VaddrBacked& a, const VaddrBacked& b) { return a.base < b.base; }
};

// What a region has backed, made when its first range is (an untouched lazy region costs no node). The
// first few ranges are held here, sorted; past that they move to an AVL tree of one node per range. Either
// way a fault or a release searches only this region's ranges, whatever else is backed.
inline constexpr std::uint32_t vaddr_inline_ranges = 12;

struct VaddrBacking {
    core::AvlTree<VaddrBacked, &VaddrBacked::hook, BackedOrder> ranges; // empty while inline
    std::uint64_t bytes = 0;
    VaddrNode* self = nullptr;
    std::uint32_t count = 0; // ranges held inline
    std::uint64_t base[vaddr_inline_ranges] = {};
    std::uint64_t size[vaddr_inline_ranges] = {};

    bool inline_mode() const { return ranges.empty(); }
    std::uint64_t range_count() const { return inline_mode() ? count : ranges.size(); }
};

// A leaf: per region, sorted by base, in arrays so that a scan reads only what it compares: the base
// (guard pages included), the size, the free gap below it (to the previous region or lo), the guard bytes
// with bit 0 set for an Eager region (guards are whole pages), and its backing (null until one is backed).
struct VaddrLeaf {
    std::uint32_t count = 0;
    std::uint64_t base[vaddr_leaf_cap] = {};
    std::uint64_t size[vaddr_leaf_cap] = {};
    std::uint64_t gap[vaddr_leaf_cap] = {};
    std::uint64_t guard[vaddr_leaf_cap] = {};
    VaddrNode* backing[vaddr_leaf_cap] = {};
};

// An inner node: per child, the lowest base in it, the largest gap in it, and the child.
using VaddrInner = core::BTreeInner<VaddrNode, std::uint64_t, vaddr_inner_cap>;

} // namespace detail

// The one metadata node type: raw storage that holds a tree node, a region's backing or a backed range.
// Slabs feeding a VaddrSpace hold these.
struct alignas(64) VaddrNode {
    alignas(64) std::byte storage[detail::vaddr_node_bytes];
};

static_assert(sizeof(detail::VaddrBacking) <= detail::vaddr_node_bytes);
static_assert(sizeof(detail::VaddrBacked) <= detail::vaddr_node_bytes);

struct VaddrStats {
    std::uint64_t regions = 0;
    std::uint64_t backed_ranges = 0;
    std::uint64_t reserved_bytes = 0; // guard pages included
    std::uint64_t backed_bytes = 0;
    bool operator==(const VaddrStats&) const = default;
};

template <class NodeAlloc, core::Lock L = core::NullLock>
    requires mm::NodeAllocator<NodeAlloc, VaddrNode>
class VaddrSpace {
public:
    using Node = VaddrNode;

    // The tree's height is bounded by the address space: at most 2^52 regions (a page each), inner nodes
    // with at least four children below the root.
    static constexpr int max_height = 36;
    // Nodes one call may need at most: a split at every level and a new root, and a region's backing; or,
    // when a region's inline ranges overflow, a node per range. In practice none or one; a slab feeding the
    // space keeps `nodes_per_call()` in reserve per concurrent caller.
    static constexpr std::size_t max_nodes_per_call = max_height + 2;

    // Manages [lo, hi); both page-aligned, lo < hi (constants of the embedder: checked by assertion).
    VaddrSpace(NodeAlloc& nodes, std::uint64_t lo, std::uint64_t hi) : nodes_(nodes), lo_(lo), hi_(hi) {
        AOS_ASSERT(lo < hi && arch::page_aligned(lo) && arch::page_aligned(hi));
    }
    VaddrSpace(const VaddrSpace&) = delete;
    VaddrSpace& operator=(const VaddrSpace&) = delete;

    // Returns every node; mappings are the embedder's to tear down.
    ~VaddrSpace() { release_tree(); }

    // What one call may need now: a split at every level of the tree, a new root and a backing, or the
    // move of a region's inline ranges to its tree.
    std::size_t nodes_per_call() const {
        core::LockGuard guard_lock(lock_);
        std::size_t tree = static_cast<std::size_t>(tree_.height()) + 2;
        return tree > detail::vaddr_inline_ranges + 1 ? tree : detail::vaddr_inline_ranges + 1;
    }

    // Reserves `size` bytes (rounded up to pages) at the lowest address whose start is a multiple of
    // `align` (a power of two; below a page means a page), preceded by `guard_pages` guard pages. Returns
    // the start of the usable part. Errors: zero_size, invalid_argument (align), overflow, no_memory (no gap
    // or no node).
    Result<std::uint64_t> reserve(std::uint64_t size, std::uint64_t align, Backing backing,
                                  std::uint64_t guard_pages = 0) {
        if (size == 0)
            return error(Errc::zero_size);
        if (!std::has_single_bit(align))
            return error(Errc::invalid_argument);
        if (size > max - (arch::page_size - 1))
            return error(Errc::overflow);
        size = arch::page_up(size);
        if (guard_pages > (max - size) / arch::page_size)
            return error(Errc::overflow);
        std::uint64_t guard = guard_pages * arch::page_size;
        if (align < arch::page_size)
            align = arch::page_size;

        bool eager = backing == Backing::Eager;
        std::uint64_t usable = 0;
        Result<void> done = with_nodes(eager ? 1 : 0, [&](Batch& batch, std::size_t& more) -> Result<void> {
            std::uint64_t start = 0;
            if (!find_gap(guard, size, align, start))
                return error(Errc::no_memory);
            Path p;
            unsigned pos = tree_.insert_position(start, p);
            std::size_t need = tree_.split_nodes(p) + (eager ? 1 : 0);
            if (batch.short_of(need, more))
                return ok();
            Node* backing = eager ? backed_whole(start + guard, size, batch) : nullptr;
            insert_region(p, pos, start, guard, size, eager, backing, batch);
            usable = start + guard;
            return ok();
        });
        if (!done)
            return error(done.error());
        return usable;
    }

    // A fixed range: a new region if [addr, addr + size) is wholly free (Eager: recorded as backed), or the
    // backing of an unbacked part of one lazy region. Errors: zero_size, misaligned, overflow, out_of_range
    // (outside [lo, hi)), overlap (with another region, a guard page or a backed part), no_memory.
    Result<void> reserve_at(std::uint64_t addr, std::uint64_t size, Backing backing = Backing::Eager) {
        AOS_TRY(check_range(addr, size));
        std::uint64_t end = addr + size;
        bool eager = backing == Backing::Eager;
        return with_nodes(eager ? 1 : 0, [&](Batch& batch, std::size_t& more) -> Result<void> {
            Path p;
            bool below = locate(addr, p);
            if (below && addr < end_at(p)) {
                bool inside_lazy = !eager_at(p) && addr >= usable_at(p) && end <= end_at(p);
                if (!inside_lazy || overlaps_backed(backing_at(p), addr, end))
                    return error(Errc::overlap);
                if (batch.short_of(backed_nodes(backing_at(p), addr, end), more))
                    return ok();
                insert_backed(p, addr, size, batch);
                return ok();
            }
            Path q;
            tree_.copy_path(q, p);
            bool has_next = below ? tree_.next_entry(q) : tree_.first_entry(q);
            if (has_next && base_at(q) < end)
                return error(Errc::overlap);
            std::size_t need = tree_.split_nodes(p) + (eager ? 1 : 0);
            if (batch.short_of(need, more))
                return ok();
            Node* backing = eager ? backed_whole(addr, size, batch) : nullptr;
            insert_region(p, below ? index_at(p) + 1 : 0, addr, 0, size, eager, backing, batch);
            return ok();
        });
    }

    // What to do about a fault at addr: the page to back, or why not.
    Result<std::uint64_t, FaultError> fault(std::uint64_t addr) const {
        if (addr < arch::page_size)
            return error(FaultError::null_page);
        core::LockGuard guard_lock(lock_);
        Path p;
        if (addr < lo_ || addr >= hi_ || !containing(addr, p))
            return error(FaultError::unreserved);
        if (addr < usable_at(p))
            return error(FaultError::guard_page);
        if (backed_at(backing_at(p), addr))
            return error(FaultError::protection);
        return addr & ~(arch::page_size - 1);
    }

    // Records that [addr, addr + size) is now mapped; it coalesces with backed neighbours in the region.
    // Errors: zero_size, misaligned, overflow, not_found (no region at addr), out_of_range (runs past the
    // region or into its guard pages), overlap (a part is already backed), no_memory.
    Result<void> mark_backed(std::uint64_t addr, std::uint64_t size) {
        AOS_TRY(check_range(addr, size));
        std::uint64_t end = addr + size;
        // Usually no node is needed (the range joins a neighbour or fits inline): none is taken up front.
        return with_nodes(0, [&](Batch& batch, std::size_t& more) -> Result<void> {
            Path p;
            AOS_TRY(within_usable(addr, end, p));
            if (overlaps_backed(backing_at(p), addr, end))
                return error(Errc::overlap);
            if (batch.short_of(backed_nodes(backing_at(p), addr, end), more))
                return ok();
            insert_backed(p, addr, size, batch);
            return ok();
        });
    }

    // Frees the region whose usable part starts at addr. Before it is gone, on_backed(base, size) is called
    // for each backed range, lowest first and coalesced, so the caller can unmap it; it must not call back
    // into this space. Errors: not_found.
    template <class F>
        requires std::invocable<F&, std::uint64_t, std::uint64_t>
    Result<void> release(std::uint64_t addr, F&& on_backed) {
        core::LockGuard guard_lock(lock_);
        Path p;
        if (!containing(addr, p) || usable_at(p) != addr)
            return error(Errc::not_found);
        Leaf& lf = leaf_at(p);
        unsigned i = index_at(p);
        if (RegionBacking* b = backing_at(p)) {
            backed_bytes_ -= b->bytes;
            backed_count_ -= b->range_count();
            each_range(*b, [&](std::uint64_t base, std::uint64_t size) {
                on_backed(base, size);
                return true;
            });
            free_backing(*b);
        }
        reserved_bytes_ -= lf.size[i];
        // The next region's gap now reaches down to the previous region's end.
        std::uint64_t freed = lf.size[i] + lf.gap[i];
        Path q;
        tree_.copy_path(q, p);
        if (tree_.next_entry(q)) {
            leaf_at(q).gap[index_at(q)] += freed;
            if (!tree_.same_leaf(q, p))
                tree_.fix_up(q);
        }
        FreeNow dead{nodes_};
        tree_.erase_at(p, dead);
        return ok();
    }

    // Takes [addr, addr + size) of a lazy region back to unbacked (what madvise(MADV_DONTNEED) does): each
    // backed piece of it goes to on_unbacked(base, size), lowest first, so the caller can unmap it, and
    // a touch there faults as lazy again. The region stays reserved; when nothing of it is backed any more
    // it costs no node again. on_unbacked must not call back into this space. Errors: zero_size,
    // misaligned, overflow, out_of_range (outside the space, or running past the region or into its guard
    // pages), not_found (no region at addr), invalid_argument (an Eager region), no_memory (splitting a
    // backed range in two needs a node). Nothing backed in the range is not an error.
    template <class F>
        requires std::invocable<F&, std::uint64_t, std::uint64_t>
    Result<void> unback(std::uint64_t addr, std::uint64_t size, F&& on_unbacked) {
        AOS_TRY(check_range(addr, size));
        std::uint64_t end = addr + size;
        return with_nodes(0, [&](Batch& batch, std::size_t& more) -> Result<void> {
            Path p;
            AOS_TRY(within_usable(addr, end, p));
            if (eager_at(p))
                return error(Errc::invalid_argument);
            RegionBacking* b = backing_at(p);
            if (b == nullptr)
                return ok();
            if (batch.short_of(unbacked_nodes(*b, addr, end), more))
                return ok();
            remove_backed(p, *b, addr, end, batch, on_unbacked);
            return ok();
        });
    }

    // How the region whose usable part holds all of [addr, addr + size) is backed. Errors: zero_size,
    // misaligned, overflow, out_of_range (outside the space, or running past the region or into its guard
    // pages), not_found (no region at addr).
    Result<Backing> backing_kind(std::uint64_t addr, std::uint64_t size) const {
        AOS_TRY(check_range(addr, size));
        core::LockGuard guard_lock(lock_);
        Path p;
        AOS_TRY(within_usable(addr, addr + size, p));
        return eager_at(p) ? Backing::Eager : Backing::Lazy;
    }

    VaddrStats stats() const {
        core::LockGuard guard_lock(lock_);
        return VaddrStats{tree_.size(), backed_count_, reserved_bytes_, backed_bytes_};
    }

    // Backed ranges of the region holding addr (0 when none): the bookkeeping cost of its backing.
    std::uint64_t backed_ranges_at(std::uint64_t addr) const {
        core::LockGuard guard_lock(lock_);
        Path p;
        if (!containing(addr, p))
            return 0;
        const RegionBacking* b = backing_at(p);
        return b != nullptr ? b->range_count() : 0;
    }

    // The tree (fill, keys and maxima exact, one height), gaps, the tail, containment and coalescing of
    // backed ranges, per-region and total counts. O(n).
    [[nodiscard]] bool check_invariants() const {
        core::LockGuard guard_lock(lock_);
        // The walk below sees each region start at or past the previous one's end: the order is strict.
        if (!tree_.check())
            return false;
        std::uint64_t prev_end = lo_;
        std::uint64_t reserved = 0;
        std::uint64_t ranges = 0;
        std::uint64_t bytes = 0;
        Path p;
        for (bool more = tree_.first_entry(p); more; more = tree_.next_entry(p)) {
            const Leaf& lf = leaf_at(p);
            unsigned i = index_at(p);
            std::uint64_t guard = lf.guard[i] & ~std::uint64_t{1};
            if (lf.base[i] < prev_end || lf.base[i] >= hi_ || lf.size[i] == 0 ||
                lf.size[i] > hi_ - lf.base[i] || !arch::page_aligned(guard) || guard >= lf.size[i] ||
                lf.gap[i] != lf.base[i] - prev_end)
                return false;
            reserved += lf.size[i];
            prev_end = end_at(p);
            const RegionBacking* b = backing_at(p);
            if (b == nullptr)
                continue;
            if (b->self == nullptr || b->range_count() == 0 || !b->ranges.check_invariants() ||
                b->count > detail::vaddr_inline_ranges || (!b->inline_mode() && b->count != 0))
                return false;
            for (const Backed* r = b->ranges.first(); r != nullptr; r = BackedTree::next(*r)) {
                if (r->self == nullptr)
                    return false;
            }
            std::uint64_t r_bytes = 0;
            std::uint64_t prev_backed_end = 0;
            bool first_range = true;
            bool fine = each_range(*b, [&](std::uint64_t base, std::uint64_t size) {
                if (base < usable_at(p) || size == 0 || size > end_at(p) - base)
                    return false;
                if (!first_range && prev_backed_end >= base)
                    return false; // overlapping or not coalesced
                first_range = false;
                prev_backed_end = base + size;
                r_bytes += size;
                return true;
            });
            if (!fine || r_bytes != b->bytes)
                return false;
            ranges += b->range_count();
            bytes += r_bytes;
        }
        return reserved == reserved_bytes_ && ranges == backed_count_ && bytes == backed_bytes_;
    }

private:
    using RegionBacking = detail::VaddrBacking;
    using Backed = detail::VaddrBacked;
    using Leaf = detail::VaddrLeaf;
    using BackedTree = core::AvlTree<Backed, &Backed::hook, detail::BackedOrder>;
    using Batch = mm::NodeBatch<Node, max_nodes_per_call>;
    static constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    static constexpr std::uint64_t eager_bit = 1; // in a leaf's guard word
    static_assert(max_nodes_per_call >= detail::vaddr_inline_ranges + 1);

    struct Entry {
        std::uint64_t base;
        std::uint64_t size;
        std::uint64_t gap;
        std::uint64_t guard;
        Node* backing;
    };

    // The region tree: entries are regions, an inner node's summary of a child is its largest gap.
    struct TreeTraits : core::BTreeLargestOf<&detail::VaddrLeaf::gap> {
        using Node = VaddrNode;
        using Leaf = detail::VaddrLeaf;
        using Entry = VaddrSpace::Entry;
        static constexpr std::uint32_t leaf_cap = detail::vaddr_leaf_cap;
        static constexpr std::uint32_t inner_cap = detail::vaddr_inner_cap;
        // At least four children below the root: an underfull node and a minimal sibling merge into one.
        static constexpr std::uint32_t inner_min = 4;
        static constexpr int max_height = VaddrSpace::max_height;

        static void put(Leaf& lf, unsigned i, const Entry& e) {
            lf.base[i] = e.base;
            lf.size[i] = e.size;
            lf.gap[i] = e.gap;
            lf.guard[i] = e.guard;
            lf.backing[i] = e.backing;
        }
        static void move_entry(Leaf& d, unsigned di, Leaf& s, unsigned si) {
            put(d, di, Entry{s.base[si], s.size[si], s.gap[si], s.guard[si], s.backing[si]});
        }
        static void vacate(Leaf&, unsigned) {}
    };
    using Tree = core::BTree<TreeTraits>;
    using Path = typename Tree::Path;

    // Tree nodes that go are given back at once (the lock is held throughout a release anyway).
    struct FreeNow {
        NodeAlloc& nodes;
        void push(Node* n) { nodes.deallocate(n); }
    };

    // mm::with_nodes over this space's node allocator and lock.
    template <class F>
    Result<void> with_nodes(std::size_t n, F&& change) {
        return mm::with_nodes<Node, max_nodes_per_call>(nodes_, lock_, n, change);
    }

    static void must(Result<void> r) { AOS_ASSERT(r.has_value()); }

    Result<void> check_range(std::uint64_t addr, std::uint64_t size) const {
        if (size == 0)
            return error(Errc::zero_size);
        if (!arch::page_aligned(addr) || !arch::page_aligned(size))
            return error(Errc::misaligned);
        if (addr > max - size)
            return error(Errc::overflow);
        if (addr < lo_ || addr + size > hi_)
            return error(Errc::out_of_range);
        return ok();
    }

    // ---- Node storage.
    static RegionBacking* backing_of(Node* n) {
        return n != nullptr ? std::launder(reinterpret_cast<RegionBacking*>(n->storage)) : nullptr;
    }
    void free_backed(Backed& b) {
        Node* self = b.self;
        b.~Backed();
        nodes_.deallocate(self);
    }

    // ---- The region at a position.
    Leaf& leaf_at(const Path& p) const { return tree_.leaf_at(p); }
    unsigned index_at(const Path& p) const { return tree_.index_at(p); }
    std::uint64_t base_at(const Path& p) const { return leaf_at(p).base[index_at(p)]; }
    std::uint64_t end_at(const Path& p) const { return base_at(p) + leaf_at(p).size[index_at(p)]; }
    std::uint64_t usable_at(const Path& p) const {
        return base_at(p) + (leaf_at(p).guard[index_at(p)] & ~eager_bit);
    }
    bool eager_at(const Path& p) const { return (leaf_at(p).guard[index_at(p)] & eager_bit) != 0; }
    RegionBacking* backing_at(const Path& p) const { return backing_of(leaf_at(p).backing[index_at(p)]); }

    // The path to the last region with base <= addr; false when every region lies above addr (the path then
    // still leads to the leftmost leaf).
    bool locate(std::uint64_t addr, Path& p) const { return tree_.locate(addr, p); }
    bool containing(std::uint64_t addr, Path& p) const { return locate(addr, p) && addr < end_at(p); }
    // A new region at [base, base + guard + size) with `backing` (null for a lazy one), at pos of p's leaf
    // (from insert_position); the gap below the next region shrinks to what is left above the new one. p is
    // stale afterwards.
    void insert_region(Path& p, unsigned pos, std::uint64_t base, std::uint64_t guard, std::uint64_t size,
                       bool eager, Node* backing, Batch& batch) {
        std::uint64_t end = base + guard + size;
        std::uint64_t prev_end = lo_;
        if (tree_.root() != nullptr) {
            // The next region follows the previous one (pos - 1 in p's leaf); with no previous region it is
            // the first (leaves are never empty).
            Path q;
            tree_.copy_path(q, p);
            bool more = true;
            if (pos > 0) {
                q.idx[tree_.height() - 1] = pos - 1;
                prev_end = end_at(q);
                more = tree_.next_entry(q);
            } else {
                q.idx[tree_.height() - 1] = 0;
            }
            if (more) {
                leaf_at(q).gap[index_at(q)] = base_at(q) - end;
                if (!tree_.same_leaf(q, p))
                    tree_.fix_up(q);
            }
        }
        tree_.insert_at(p, pos,
                        Entry{base, guard + size, base - prev_end, guard | (eager ? eager_bit : 0), backing},
                        batch);
        reserved_bytes_ += guard + size;
    }

    // ---- The fit search.
    // Where a region of guard + size bytes fits in [gap_lo, gap_hi) with its usable part aligned.
    static bool fit(std::uint64_t gap_lo, std::uint64_t gap_hi, std::uint64_t guard, std::uint64_t size,
                    std::uint64_t align, std::uint64_t& start) {
        if (gap_lo > max - guard || gap_lo + guard > max - (align - 1))
            return false;
        std::uint64_t usable = arch::align_up(gap_lo + guard, align);
        if (usable > gap_hi || gap_hi - usable < size)
            return false;
        start = usable - guard;
        return true;
    }

    // Lowest gap below some region that fits, descending only into children whose largest gap is big
    // enough (O(log n) unless alignment rejects candidates); else the tail gap above the last region.
    bool find_gap(std::uint64_t guard, std::uint64_t size, std::uint64_t align, std::uint64_t& start) const {
        std::uint64_t need = guard + size;
        Path p;
        bool found = tree_.find_lowest(
            p,
            [&](std::uint64_t, std::uint64_t, std::uint64_t max_gap) {
                return max_gap >= need ? core::BTreeStep::enter : core::BTreeStep::skip;
            },
            [&](const Leaf& lf, unsigned&) {
                for (unsigned i = 0; i < lf.count; ++i) {
                    if (lf.gap[i] >= need &&
                        fit(lf.base[i] - lf.gap[i], lf.base[i], guard, size, align, start))
                        return true;
                }
                return false;
            });
        if (found)
            return true;
        std::uint64_t last_end = tree_.last_entry(p) ? end_at(p) : lo_;
        return fit(last_end, hi_, guard, size, align, start);
    }

    // The path to the region whose usable part holds all of [addr, end): not_found when no region holds
    // addr, out_of_range when the range runs past it or starts in its guard pages.
    Result<void> within_usable(std::uint64_t addr, std::uint64_t end, Path& p) const {
        if (!containing(addr, p))
            return error(Errc::not_found);
        if (addr < usable_at(p) || end > end_at(p))
            return error(Errc::out_of_range);
        return ok();
    }

    // ---- Backed ranges of one region.
    // The backed ranges next to addr: the last starting at or below it and the one after.
    struct Near {
        bool has_prev = false;
        bool has_next = false;
        std::uint64_t prev_end = 0;
        std::uint64_t next_base = 0;
        unsigned prev_idx = 0;  // inline: where prev is (next is prev_idx + 1, or 0 without prev)
        Backed* prev = nullptr; // tree
        Backed* next = nullptr;
    };
    static Near near(const RegionBacking& b, std::uint64_t addr) {
        Near n;
        if (b.inline_mode()) {
            unsigned i = 0;
            while (i < b.count && b.base[i] <= addr)
                ++i;
            n.has_prev = i > 0;
            n.prev_idx = i > 0 ? i - 1 : 0;
            if (n.has_prev)
                n.prev_end = b.base[i - 1] + b.size[i - 1];
            n.has_next = i < b.count;
            if (n.has_next)
                n.next_base = b.base[i];
            return n;
        }
        n.prev = b.ranges.floor([&](const Backed& r) { return core::three_way(r.base, addr); });
        n.next = n.prev != nullptr ? BackedTree::next(*n.prev) : b.ranges.first();
        n.has_prev = n.prev != nullptr;
        n.has_next = n.next != nullptr;
        n.prev_end = n.has_prev ? n.prev->end() : 0;
        n.next_base = n.has_next ? n.next->base : 0;
        return n;
    }
    static bool backed_at(const RegionBacking* b, std::uint64_t addr) {
        if (b == nullptr)
            return false;
        Near n = near(*b, addr);
        return n.has_prev && addr < n.prev_end;
    }
    static bool overlaps_backed(const RegionBacking* b, std::uint64_t addr, std::uint64_t end) {
        if (b == nullptr)
            return false;
        Near n = near(*b, addr);
        return (n.has_prev && n.prev_end > addr) || (n.has_next && n.next_base < end);
    }
    // Nodes backing [addr, end) takes: the region's backing when it has none; a range node in tree mode
    // unless the new range joins a neighbour; and when the inline ranges are full, one per range on moving
    // them to the tree.
    static std::size_t backed_nodes(const RegionBacking* b, std::uint64_t addr, std::uint64_t end) {
        if (b == nullptr)
            return 1;
        Near n = near(*b, addr);
        if ((n.has_prev && n.prev_end == addr) || (n.has_next && n.next_base == end))
            return 0;
        return one_more_range_nodes(*b);
    }
    // Nodes a backing needs to hold one more range: one in its tree, or, inline, none while a slot is free
    // and a node per range (and one for the new) once the inline ranges move to the tree.
    static std::size_t one_more_range_nodes(const RegionBacking& b) {
        if (!b.inline_mode())
            return 1;
        return b.count < detail::vaddr_inline_ranges ? 0 : b.count + 1;
    }

    // The ranges [base[k], base[k] + size[k]) become nodes of b's tree, which leaves inline mode.
    void move_to_tree(RegionBacking& b, const std::uint64_t* base, const std::uint64_t* size, unsigned n,
                      Batch& batch) {
        for (unsigned k = 0; k < n; ++k)
            must(b.ranges.insert(make_backed(base[k], size[k], batch)));
        b.count = 0;
    }

    Backed& make_backed(std::uint64_t base, std::uint64_t size, Batch& batch) {
        Node* n = batch.pop();
        Backed& r = *::new (static_cast<void*>(n->storage)) Backed();
        r.base = base;
        r.size = size;
        r.self = n;
        return r;
    }

    // A region's backing, nothing backed yet, from the batch.
    Node* new_backing(Batch& batch) {
        Node* n = batch.pop();
        ::new (static_cast<void*>(n->storage)) RegionBacking();
        backing_of(n)->self = n;
        return n;
    }
    // The backing of an Eager region, [usable, usable + size) backed whole from the start.
    Node* backed_whole(std::uint64_t usable, std::uint64_t size, Batch& batch) {
        Node* n = new_backing(batch);
        RegionBacking& b = *backing_of(n);
        b.base[0] = usable;
        b.size[0] = size;
        b.count = 1;
        b.bytes = size;
        backed_bytes_ += size;
        ++backed_count_;
        return n;
    }

    // Records [addr, addr + size) as backed in the region at p, merging with its backed neighbours (as
    // many nodes in the batch as backed_nodes counted).
    void insert_backed(const Path& p, std::uint64_t addr, std::uint64_t size, Batch& batch) {
        Leaf& lf = leaf_at(p);
        unsigned i = index_at(p);
        if (lf.backing[i] == nullptr)
            lf.backing[i] = new_backing(batch);
        RegionBacking& b = *backing_of(lf.backing[i]);
        std::uint64_t end = addr + size;
        Near n = near(b, addr);
        bool join_prev = n.has_prev && n.prev_end == addr;
        bool join_next = n.has_next && n.next_base == end;
        b.bytes += size;
        backed_bytes_ += size;
        if (b.inline_mode()) {
            unsigned at = n.has_prev ? n.prev_idx + 1 : 0; // where next is, or where a new range goes
            if (join_prev && join_next) {
                b.size[at - 1] = b.base[at] + b.size[at] - b.base[at - 1];
                for (unsigned k = at; k + 1 < b.count; ++k) {
                    b.base[k] = b.base[k + 1];
                    b.size[k] = b.size[k + 1];
                }
                --b.count;
                --backed_count_;
            } else if (join_prev) {
                b.size[at - 1] += size;
            } else if (join_next) {
                b.base[at] = addr;
                b.size[at] += size;
            } else if (b.count < detail::vaddr_inline_ranges) {
                for (unsigned k = b.count; k > at; --k) {
                    b.base[k] = b.base[k - 1];
                    b.size[k] = b.size[k - 1];
                }
                b.base[at] = addr;
                b.size[at] = size;
                ++b.count;
                ++backed_count_;
            } else {
                // Full: every range moves to the tree, the new one with them.
                move_to_tree(b, b.base, b.size, b.count, batch);
                must(b.ranges.insert(make_backed(addr, size, batch)));
                ++backed_count_;
            }
            return;
        }
        if (join_prev && join_next) {
            n.prev->size = n.next->end() - n.prev->base;
            must(b.ranges.erase(*n.next));
            free_backed(*n.next);
            --backed_count_;
        } else if (join_prev) {
            n.prev->size = end - n.prev->base;
        } else if (join_next) {
            // Moving the base down to addr keeps the order: nothing lies between.
            n.next->base = addr;
            n.next->size += size;
        } else {
            must(b.ranges.insert(make_backed(addr, size, batch)));
            ++backed_count_;
        }
    }

    // Nodes unbacking [addr, end) takes: none unless a backed range holds it with room on both sides and
    // splits in two; then one in tree mode, and when the inline ranges are full, one per range on moving
    // them to the tree.
    static std::size_t unbacked_nodes(const RegionBacking& b, std::uint64_t addr, std::uint64_t end) {
        Near n = near(b, addr);
        if (!(n.has_prev && n.prev_end > end && (b.inline_mode() ? b.base[n.prev_idx] : n.prev->base) < addr))
            return 0;
        return one_more_range_nodes(b);
    }

    // Removes [addr, end) from the backed ranges of the region at p, handing each removed piece to
    // on_unbacked (as many nodes in the batch as unbacked_nodes counted); a backing left empty goes.
    template <class F>
    void remove_backed(const Path& p, RegionBacking& b, std::uint64_t addr, std::uint64_t end, Batch& batch,
                       F& on_unbacked) {
        auto cut = [&](std::uint64_t from, std::uint64_t to) {
            on_unbacked(from, to - from);
            b.bytes -= to - from;
            backed_bytes_ -= to - from;
        };
        if (b.inline_mode()) {
            // The ranges that remain, in order: at most one more than before (a range split in two).
            std::uint64_t base[detail::vaddr_inline_ranges + 1];
            std::uint64_t size[detail::vaddr_inline_ranges + 1];
            unsigned kept = 0;
            for (unsigned k = 0; k < b.count; ++k) {
                std::uint64_t rb = b.base[k];
                std::uint64_t re = rb + b.size[k];
                if (re <= addr || rb >= end) {
                    base[kept] = rb;
                    size[kept++] = re - rb;
                    continue;
                }
                cut(rb > addr ? rb : addr, re < end ? re : end);
                if (rb < addr) {
                    base[kept] = rb;
                    size[kept++] = addr - rb;
                }
                if (re > end) {
                    base[kept] = end;
                    size[kept++] = re - end;
                }
            }
            backed_count_ = backed_count_ + kept - b.count;
            if (kept <= detail::vaddr_inline_ranges) {
                for (unsigned k = 0; k < kept; ++k) {
                    b.base[k] = base[k];
                    b.size[k] = size[k];
                }
                b.count = kept;
            } else {
                move_to_tree(b, base, size, kept, batch);
            }
        } else {
            Backed* r = b.ranges.floor([&](const Backed& x) { return core::three_way(x.base, addr); });
            if (r == nullptr || r->end() <= addr)
                r = r != nullptr ? BackedTree::next(*r) : b.ranges.first();
            while (r != nullptr && r->base < end) {
                Backed* next = BackedTree::next(*r);
                std::uint64_t rb = r->base;
                std::uint64_t re = r->end();
                cut(rb > addr ? rb : addr, re < end ? re : end);
                if (rb < addr && re > end) {
                    r->size = addr - rb;
                    must(b.ranges.insert(make_backed(end, re - end, batch)));
                    ++backed_count_;
                } else if (rb < addr) {
                    r->size = addr - rb;
                } else if (re > end) {
                    // Moving the base up to end keeps the order: nothing of the range lies below it now.
                    r->base = end;
                    r->size = re - end;
                } else {
                    must(b.ranges.erase(*r));
                    free_backed(*r);
                    --backed_count_;
                }
                r = next;
            }
        }
        if (b.range_count() == 0) {
            leaf_at(p).backing[index_at(p)] = nullptr;
            free_backing(b);
        }
    }

    // Calls f(base, size) for each backed range of b, lowest first; stops when f returns false.
    template <class F>
    static bool each_range(const RegionBacking& b, F&& f) {
        if (b.inline_mode()) {
            for (unsigned k = 0; k < b.count; ++k) {
                if (!f(b.base[k], b.size[k]))
                    return false;
            }
            return true;
        }
        for (const Backed* r = b.ranges.first(); r != nullptr; r = BackedTree::next(*r)) {
            if (!f(r->base, r->size))
                return false;
        }
        return true;
    }
    // Gives back b and its range nodes.
    void free_backing(RegionBacking& b) {
        while (Backed* r = b.ranges.first()) {
            must(b.ranges.erase(*r));
            free_backed(*r);
        }
        Node* self = b.self;
        b.~RegionBacking();
        nodes_.deallocate(self);
    }

    // ---- Whole-tree walks.
    void release_tree() {
        tree_.release(
            [&](Leaf& lf) {
                for (unsigned i = 0; i < lf.count; ++i) {
                    if (RegionBacking* b = backing_of(lf.backing[i]))
                        free_backing(*b);
                }
            },
            [&](Node* n) { nodes_.deallocate(n); });
    }
    NodeAlloc& nodes_;
    std::uint64_t lo_;
    std::uint64_t hi_;
    mutable L lock_;
    Tree tree_;
    std::uint64_t reserved_bytes_ = 0;
    std::uint64_t backed_bytes_ = 0;
    std::uint64_t backed_count_ = 0;
};

static_assert(mm::NodeAllocator<mm::Slab<VaddrNode, mm::ArenaRefill>, VaddrNode>);

} // namespace aos::vm
