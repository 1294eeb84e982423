// aos::vm::VaddrSpace: the virtual address bookkeeping of one address space (behind paging_alloc,
// paging_map_fixed, morecore and lazy page-fault backing). Regions live in an AVL tree augmented with the
// largest gap below each subtree; each region keeps its backed parts, coalesced, in its own small tree, so
// a fully touched lazy region costs one node however it was touched. Every operation is O(log n).
//
//   aos::vm::VaddrSpace<MySlab> vs(slab, 0x1000, 0x8000'0000'0000);
//   auto heap = AOS_TRY(vs.reserve(1 << 30, 4096, aos::vm::Backing::Lazy));
//   auto page = vs.fault(addr);                  // Result<uint64_t, FaultError>: the page to back
//   if (page) { map_frame(*page); AOS_TRY(vs.mark_backed(*page, 4096)); }
//   AOS_TRY(vs.release(heap, [&](uint64_t base, uint64_t size) { unmap(base, size); }));
#pragma once

#include <aos/arch/page.hpp>
#include <aos/core/avl_tree.hpp>
#include <aos/core/lock.hpp>
#include <aos/core/result.hpp>
#include <aos/mm/slab.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>

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

struct RangeOrder {
    static bool less(const VaddrNode& a, const VaddrNode& b);
};

} // namespace detail

// One metadata node: a region, or a backed range of one.
struct alignas(64) VaddrNode {
    // What a tree descent reads comes first: one cache line per visited node (the alignment keeps it so).
    core::TreeHook<VaddrNode> hook;
    std::uint64_t base = 0; // a region's base includes its guard pages
    std::uint64_t size = 0;
    std::uint64_t max_gap = 0; // region: augmented, the largest gap in the subtree
    // Region only:
    std::uint64_t guard = 0; // bytes of guard pages at the bottom
    std::uint64_t gap = 0;   // free bytes between the previous region (or lo) and base
    // The region's own backed ranges: a fault or a release searches only these, so its cost does not
    // depend on how many other regions are backed (and a region's few ranges stay in cache together).
    core::AvlTree<VaddrNode, &VaddrNode::hook, detail::RangeOrder> backed;
    std::uint64_t backed_bytes = 0;
    Backing backing = Backing::Lazy;
    // Backed range only:
    VaddrNode* region = nullptr;

    std::uint64_t end() const { return base + size; }
    std::uint64_t usable() const { return base + guard; }
};

struct VaddrStats {
    std::uint64_t regions = 0;
    std::uint64_t backed_ranges = 0;
    std::uint64_t reserved_bytes = 0; // guard pages included
    std::uint64_t backed_bytes = 0;
    bool operator==(const VaddrStats&) const = default;
};

namespace detail {

struct RegionOrder {
    static bool less(const VaddrNode& a, const VaddrNode& b) { return a.base < b.base; }
    static bool aggregate(VaddrNode& n, const VaddrNode* l, const VaddrNode* r) {
        return core::update_max(n, n.gap, l, r, &VaddrNode::max_gap);
    }
};

inline bool RangeOrder::less(const VaddrNode& a, const VaddrNode& b) {
    return a.base < b.base;
}

} // namespace detail

template <class NodeAlloc, core::Lock L = core::NullLock>
    requires mm::NodeAllocator<NodeAlloc, VaddrNode>
class VaddrSpace {
public:
    using Node = VaddrNode;

    // Manages [lo, hi); both page-aligned, lo < hi (constants of the embedder: checked by assertion).
    VaddrSpace(NodeAlloc& nodes, std::uint64_t lo, std::uint64_t hi) : nodes_(nodes), lo_(lo), hi_(hi) {
        AOS_ASSERT(lo < hi && arch::page_aligned(lo) && arch::page_aligned(hi));
    }
    VaddrSpace(const VaddrSpace&) = delete;
    VaddrSpace& operator=(const VaddrSpace&) = delete;

    // Returns every node; mappings are the embedder's to tear down.
    ~VaddrSpace() {
        while (Node* r = regions_.first()) {
            while (Node* n = r->backed.first()) {
                must(r->backed.erase(*n));
                nodes_.deallocate(n);
            }
            must(regions_.erase(*r));
            nodes_.deallocate(r);
        }
    }

    // Reserves `size` bytes (rounded up to pages) at the lowest address whose start is a multiple of
    // `align` (a power of two; below a page means a page), preceded by `guard_pages` guard pages. Returns
    // the start of the usable part. Errors: zero_size, invalid_argument (align), overflow, no_memory (no gap
    // or no node).
    Result<std::uint64_t> reserve(std::uint64_t size, std::uint64_t align, Backing backing,
                                  std::uint64_t guard_pages = 0) {
        if (size == 0)
            return error(Errc::zero_size);
        if (align == 0 || (align & (align - 1)) != 0)
            return error(Errc::invalid_argument);
        if (size > max - (arch::page_size - 1))
            return error(Errc::overflow);
        size = round_up(size, arch::page_size);
        if (guard_pages > (max - size) / arch::page_size)
            return error(Errc::overflow);
        std::uint64_t guard = guard_pages * arch::page_size;
        if (align < arch::page_size)
            align = arch::page_size;

        Batch batch;
        AOS_TRY(batch.take(nodes_, backing == Backing::Eager ? 2 : 1));
        Result<std::uint64_t> result = error(Errc::no_memory);
        {
            core::LockGuard guard_lock(lock_);
            std::uint64_t start = 0;
            if (find_gap(guard, size, align, start)) {
                Node* region = batch.pop();
                insert_region(*region, start, guard, size, backing);
                if (backing == Backing::Eager)
                    insert_backed(*region, region->usable(), size, batch);
                result = region->usable();
            }
        }
        batch.give_back(nodes_);
        return result;
    }

    // A fixed range: a new region if [addr, addr + size) is wholly free (Eager: recorded as backed), or the
    // backing of an unbacked part of one lazy region. Errors: zero_size, misaligned, overflow, out_of_range
    // (outside [lo, hi)), overlap (with another region, a guard page or a backed part), no_memory.
    Result<void> reserve_at(std::uint64_t addr, std::uint64_t size, Backing backing = Backing::Eager) {
        AOS_TRY(check_range(addr, size));
        std::uint64_t end = addr + size;
        return with_nodes(2, [&](Batch& batch) -> Result<void> {
            if (Node* region = containing(addr)) {
                bool inside_lazy =
                    region->backing == Backing::Lazy && addr >= region->usable() && end <= region->end();
                if (!inside_lazy || overlaps_backed(*region, addr, end))
                    return error(Errc::overlap);
                insert_backed(*region, addr, size, batch);
                return ok();
            }
            if (Node* next = above(addr); next != nullptr && next->base < end)
                return error(Errc::overlap);
            Node* r = batch.pop();
            insert_region(*r, addr, 0, size, backing);
            if (backing == Backing::Eager)
                insert_backed(*r, addr, size, batch);
            return ok();
        });
    }

    // What to do about a fault at addr: the page to back, or why not.
    Result<std::uint64_t, FaultError> fault(std::uint64_t addr) const {
        if (addr < arch::page_size)
            return error(FaultError::null_page);
        core::LockGuard guard_lock(lock_);
        Node* region = addr >= lo_ && addr < hi_ ? containing(addr) : nullptr;
        if (region == nullptr)
            return error(FaultError::unreserved);
        if (addr < region->usable())
            return error(FaultError::guard_page);
        if (backed_at(*region, addr) != nullptr)
            return error(FaultError::protection);
        return addr & ~(arch::page_size - 1);
    }

    // Records that [addr, addr + size) is now mapped; it coalesces with backed neighbours in the region.
    // Errors: zero_size, misaligned, overflow, not_found (no region at addr), out_of_range (runs past the
    // region or into its guard pages), overlap (a part is already backed), no_memory.
    Result<void> mark_backed(std::uint64_t addr, std::uint64_t size) {
        AOS_TRY(check_range(addr, size));
        std::uint64_t end = addr + size;
        return with_nodes(1, [&](Batch& batch) -> Result<void> {
            Node* region = containing(addr);
            if (region == nullptr)
                return error(Errc::not_found);
            if (addr < region->usable() || end > region->end())
                return error(Errc::out_of_range);
            if (overlaps_backed(*region, addr, end))
                return error(Errc::overlap);
            insert_backed(*region, addr, size, batch);
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
        Node* region = containing(addr);
        if (region == nullptr || region->usable() != addr)
            return error(Errc::not_found);
        backed_bytes_ -= region->backed_bytes;
        backed_count_ -= region->backed.size();
        for (Node* r = region->backed.first(); r != nullptr;) {
            Node* next = BackedTree::next(*r);
            on_backed(r->base, r->size);
            must(region->backed.erase(*r));
            nodes_.deallocate(r);
            r = next;
        }
        erase_region(*region);
        nodes_.deallocate(region);
        return ok();
    }

    VaddrStats stats() const {
        core::LockGuard guard_lock(lock_);
        return VaddrStats{regions_.size(), backed_count_, reserved_bytes_, backed_bytes_};
    }

    // Backed ranges of the region holding addr (0 when none): the bookkeeping cost of its backing.
    std::uint64_t backed_ranges_at(std::uint64_t addr) const {
        core::LockGuard guard_lock(lock_);
        Node* region = containing(addr);
        return region != nullptr ? region->backed.size() : 0;
    }

    // Trees, gaps, the tail gap, containment and coalescing of backed ranges, per-region and total counts.
    // O(n).
    [[nodiscard]] bool check_invariants() const {
        core::LockGuard guard_lock(lock_);
        if (!regions_.check_invariants())
            return false;
        std::uint64_t prev_end = lo_;
        std::uint64_t reserved = 0;
        std::uint64_t ranges = 0;
        std::uint64_t bytes = 0;
        for (const Node* r = regions_.first(); r != nullptr; r = RegionTree::next(*r)) {
            if (r->base < prev_end || r->end() > hi_ || r->size == 0 || r->guard >= r->size ||
                r->gap != r->base - prev_end)
                return false;
            reserved += r->size;
            if (!r->backed.check_invariants())
                return false;
            std::uint64_t r_ranges = 0;
            std::uint64_t r_bytes = 0;
            const Node* prev_backed = nullptr;
            for (const Node* b = r->backed.first(); b != nullptr; b = BackedTree::next(*b)) {
                if (b->region != r || b->base < r->usable() || b->end() > r->end() || b->size == 0)
                    return false;
                if (prev_backed != nullptr && prev_backed->end() >= b->base)
                    return false; // overlapping or not coalesced
                ++r_ranges;
                r_bytes += b->size;
                prev_backed = b;
            }
            if (r_ranges != r->backed.size() || r_bytes != r->backed_bytes)
                return false;
            ranges += r_ranges;
            bytes += r_bytes;
            prev_end = r->end();
        }
        return reserved == reserved_bytes_ && ranges == backed_count_ && bytes == backed_bytes_;
    }

private:
    using RegionTree = core::AvlTree<Node, &Node::hook, detail::RegionOrder>;
    using BackedTree = core::AvlTree<Node, &Node::hook, detail::RangeOrder>;
    static constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    // Nodes are taken before the lock (a slab refill may call into this space's embedder); two at most.
    using Batch = mm::NodeBatch<Node, 2>;

    // Runs change(batch) under the lock with n nodes taken before it; the nodes it does not use go back.
    template <class F>
    Result<void> with_nodes(std::size_t n, F&& change) {
        Batch batch;
        AOS_TRY(batch.take(nodes_, n));
        Result<void> result = ok();
        {
            core::LockGuard guard_lock(lock_);
            result = change(batch);
        }
        batch.give_back(nodes_);
        return result;
    }

    static void must(Result<void> r) { AOS_ASSERT(r.has_value()); }
    static constexpr std::uint64_t round_up(std::uint64_t x, std::uint64_t a) {
        return (x + a - 1) & ~(a - 1);
    }

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

    Node* containing(std::uint64_t addr) const {
        Node* r = regions_.floor([&](const Node& n) { return core::three_way(n.base, addr); });
        return r != nullptr && addr < r->end() ? r : nullptr;
    }
    Node* above(std::uint64_t addr) const {
        return regions_.upper_bound([&](const Node& n) { return core::three_way(n.base, addr); });
    }
    static Node* backed_at(const Node& region, std::uint64_t addr) {
        Node* b = region.backed.floor([&](const Node& n) { return core::three_way(n.base, addr); });
        return b != nullptr && addr < b->end() ? b : nullptr;
    }
    // One descent: the backed range at or below addr, then its successor.
    static bool overlaps_backed(const Node& region, std::uint64_t addr, std::uint64_t end) {
        Node* prev = region.backed.floor([&](const Node& n) { return core::three_way(n.base, addr); });
        if (prev != nullptr && prev->end() > addr)
            return true;
        Node* next = prev != nullptr ? BackedTree::next(*prev) : region.backed.first();
        return next != nullptr && next->base < end;
    }

    // Where a region of guard + size bytes fits in [gap_lo, gap_hi) with its usable part aligned.
    static bool fit(std::uint64_t gap_lo, std::uint64_t gap_hi, std::uint64_t guard, std::uint64_t size,
                    std::uint64_t align, std::uint64_t& start) {
        if (gap_lo > max - guard || gap_lo + guard > max - (align - 1))
            return false;
        std::uint64_t usable = round_up(gap_lo + guard, align);
        if (usable > gap_hi || gap_hi - usable < size)
            return false;
        start = usable - guard;
        return true;
    }

    // Lowest gap below some region that fits, descending only into subtrees whose largest gap is big
    // enough (O(log n) unless alignment rejects candidates); else the tail gap above the last region.
    bool find_gap(std::uint64_t guard, std::uint64_t size, std::uint64_t align, std::uint64_t& start) const {
        if (find_lowest(regions_.root(), guard, size, align, start))
            return true;
        Node* last = regions_.last();
        return fit(last != nullptr ? last->end() : lo_, hi_, guard, size, align, start);
    }
    static bool find_lowest(Node* n, std::uint64_t guard, std::uint64_t size, std::uint64_t align,
                            std::uint64_t& start) {
        if (n == nullptr || n->max_gap < guard + size)
            return false;
        if (find_lowest(RegionTree::left(*n), guard, size, align, start))
            return true;
        if (fit(n->base - n->gap, n->base, guard, size, align, start))
            return true;
        return find_lowest(RegionTree::right(*n), guard, size, align, start);
    }

    void insert_region(Node& r, std::uint64_t base, std::uint64_t guard, std::uint64_t size,
                       Backing backing) {
        r.base = base;
        r.size = guard + size;
        r.guard = guard;
        r.backing = backing;
        Node* prev = regions_.floor([&](const Node& n) { return core::three_way(n.base, base); });
        r.gap = base - (prev != nullptr ? prev->end() : lo_);
        must(regions_.insert(r));
        if (Node* next = RegionTree::next(r)) {
            next->gap = next->base - r.end();
            must(regions_.update(*next));
        }
        reserved_bytes_ += r.size;
    }

    void erase_region(Node& r) {
        Node* prev = RegionTree::prev(r);
        Node* next = RegionTree::next(r);
        must(regions_.erase(r));
        if (next != nullptr) {
            next->gap = next->base - (prev != nullptr ? prev->end() : lo_);
            must(regions_.update(*next));
        }
        reserved_bytes_ -= r.size;
    }

    // Records [addr, addr + size) as backed in region, merging with backed neighbours of the same region.
    void insert_backed(Node& region, std::uint64_t addr, std::uint64_t size, Batch& batch) {
        std::uint64_t end = addr + size;
        Node* prev = region.backed.floor([&](const Node& n) { return core::three_way(n.base, addr); });
        Node* next = prev != nullptr ? BackedTree::next(*prev) : region.backed.first();
        bool join_prev = prev != nullptr && prev->end() == addr;
        bool join_next = next != nullptr && next->base == end;
        if (join_prev && join_next) {
            prev->size = next->end() - prev->base;
            must(region.backed.erase(*next));
            nodes_.deallocate(next);
            --backed_count_;
        } else if (join_prev) {
            prev->size = end - prev->base;
        } else if (join_next) {
            // Moving the base down to addr keeps the order: nothing lies between.
            next->base = addr;
            next->size += size;
        } else {
            Node* n = batch.pop();
            n->base = addr;
            n->size = size;
            n->region = &region;
            must(region.backed.insert(*n));
            ++backed_count_;
        }
        region.backed_bytes += size;
        backed_bytes_ += size;
    }

    NodeAlloc& nodes_;
    std::uint64_t lo_;
    std::uint64_t hi_;
    mutable L lock_;
    RegionTree regions_;
    std::uint64_t reserved_bytes_ = 0;
    std::uint64_t backed_bytes_ = 0;
    std::uint64_t backed_count_ = 0;
};

static_assert(mm::NodeAllocator<mm::Slab<VaddrNode, mm::ArenaRefill>, VaddrNode>);

} // namespace aos::vm
