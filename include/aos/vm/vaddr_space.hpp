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
#include <aos/core/lock.hpp>
#include <aos/core/result.hpp>
#include <aos/mm/slab.hpp>

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
struct VaddrInner {
    std::uint32_t count = 0;
    std::uint64_t key[vaddr_inner_cap] = {};
    std::uint64_t max_gap[vaddr_inner_cap] = {};
    VaddrNode* child[vaddr_inner_cap] = {};
};

} // namespace detail

// The one metadata node type: raw storage that holds a tree node, a region's backing or a backed range.
// Slabs feeding a VaddrSpace hold these.
struct alignas(64) VaddrNode {
    alignas(64) std::byte storage[detail::vaddr_node_bytes];
};

static_assert(sizeof(detail::VaddrLeaf) <= detail::vaddr_node_bytes);
static_assert(sizeof(detail::VaddrInner) <= detail::vaddr_node_bytes);
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
    ~VaddrSpace() {
        if (root_ != nullptr)
            release_subtree(root_, 0);
    }

    // What one call may need now: a split at every level of the tree, a new root and a backing, or the
    // move of a region's inline ranges to its tree.
    std::size_t nodes_per_call() const {
        core::LockGuard guard_lock(lock_);
        std::size_t tree = static_cast<std::size_t>(height_) + 2;
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

        bool eager = backing == Backing::Eager;
        std::uint64_t usable = 0;
        Result<void> done = with_nodes(eager ? 1 : 0, [&](Batch& batch, std::size_t& more) -> Result<void> {
            std::uint64_t start = 0;
            if (!find_gap(guard, size, align, start))
                return error(Errc::no_memory);
            Path p;
            unsigned pos = insert_position(start, p);
            std::size_t need = split_nodes(p) + (eager ? 1 : 0);
            if (need > batch.count) {
                more = need;
                return ok();
            }
            insert_region(p, pos, start, guard, size, eager, batch);
            if (eager) {
                must_locate(start, p);
                insert_backed(p, start + guard, size, batch);
            }
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
                if (std::size_t need = backed_nodes(backing_at(p), addr, end); need > batch.count) {
                    more = need;
                    return ok();
                }
                insert_backed(p, addr, size, batch);
                return ok();
            }
            Path q;
            copy_path(q, p);
            bool has_next = below ? next_entry(q) : first_entry(q);
            if (has_next && base_at(q) < end)
                return error(Errc::overlap);
            std::size_t need = split_nodes(p) + (eager ? 1 : 0);
            if (need > batch.count) {
                more = need;
                return ok();
            }
            insert_region(p, below ? index_at(p) + 1 : 0, addr, 0, size, eager, batch);
            if (eager) {
                must_locate(addr, p);
                insert_backed(p, addr, size, batch);
            }
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
            if (!containing(addr, p))
                return error(Errc::not_found);
            if (addr < usable_at(p) || end > end_at(p))
                return error(Errc::out_of_range);
            if (overlaps_backed(backing_at(p), addr, end))
                return error(Errc::overlap);
            if (std::size_t need = backed_nodes(backing_at(p), addr, end); need > batch.count) {
                more = need;
                return ok();
            }
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
        copy_path(q, p);
        if (next_entry(q)) {
            leaf_at(q).gap[index_at(q)] += freed;
            fix_up(q, height_ - 1);
        }
        erase_at(p);
        return ok();
    }

    VaddrStats stats() const {
        core::LockGuard guard_lock(lock_);
        return VaddrStats{entries_, backed_count_, reserved_bytes_, backed_bytes_};
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
        std::size_t nodes = 0;
        std::size_t entries = 0;
        if (root_ != nullptr) {
            std::uint64_t first = 0;
            std::uint64_t max_gap = 0;
            if (!check_subtree(root_, 0, first, max_gap, nodes, entries))
                return false;
        }
        if (nodes != tree_nodes_ || entries != entries_ || (root_ == nullptr) != (height_ == 0))
            return false;
        std::uint64_t prev_end = lo_;
        std::uint64_t reserved = 0;
        std::uint64_t ranges = 0;
        std::uint64_t bytes = 0;
        Path p;
        for (bool more = first_entry(p); more; more = next_entry(p)) {
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
    using Inner = detail::VaddrInner;
    using BackedTree = core::AvlTree<Backed, &Backed::hook, detail::BackedOrder>;
    using Batch = mm::NodeBatch<Node, max_nodes_per_call>;
    static constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    static constexpr std::uint64_t eager_bit = 1; // in a leaf's guard word
    static constexpr std::uint32_t leaf_cap = detail::vaddr_leaf_cap;
    static constexpr std::uint32_t inner_cap = detail::vaddr_inner_cap;
    // A leaf goes away only when empty: an erase then never reads a (cold) sibling leaf. Inner nodes keep
    // at least four children below the root, which bounds the height at O(log n) whatever the leaves hold.
    static constexpr std::uint32_t inner_min = 4;
    static_assert(2 * inner_min - 1 <= inner_cap); // an underfull node and a minimal sibling merge
    static_assert(max_nodes_per_call >= detail::vaddr_inline_ranges + 1);

    // A position in the tree: the node at each level from the root (0) down to the leaf, and the child or
    // entry index taken there.
    struct Path {
        Node* node[max_height];
        unsigned idx[max_height];
    };

    // mm::with_nodes over this space's node allocator and lock.
    template <class F>
    Result<void> with_nodes(std::size_t n, F&& change) {
        return mm::with_nodes<Node, max_nodes_per_call>(nodes_, lock_, n, change);
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

    // ---- Node storage.
    static Leaf& leaf(Node* n) { return *std::launder(reinterpret_cast<Leaf*>(n->storage)); }
    static Inner& inner(Node* n) { return *std::launder(reinterpret_cast<Inner*>(n->storage)); }
    static RegionBacking* backing_of(Node* n) {
        return n != nullptr ? std::launder(reinterpret_cast<RegionBacking*>(n->storage)) : nullptr;
    }
    Node* make_leaf(Node* n) {
        Leaf& lf = *::new (static_cast<void*>(n->storage)) Leaf();
        for (std::uint64_t& b : lf.base)
            b = max; // unused slots: a scan compares all of them and counts none
        ++tree_nodes_;
        return n;
    }
    Node* make_inner(Node* n) {
        Inner& in = *::new (static_cast<void*>(n->storage)) Inner();
        for (std::uint64_t& k : in.key)
            k = max;
        ++tree_nodes_;
        return n;
    }
    void kill_tree_node(Node* n) {
        --tree_nodes_;
        nodes_.deallocate(n);
    }
    void free_backed(Backed& b) {
        Node* self = b.self;
        b.~Backed();
        nodes_.deallocate(self);
    }
    // A node is four lines and a visit reads more than one (the keys, then the chosen child or entry):
    // fetching them together makes the misses of a cold node one wait instead of several.
    static void prefetch(const Node* n) {
        for (std::size_t off = 0; off < sizeof(Node); off += 64)
            __builtin_prefetch(n->storage + off);
    }

    bool is_leaf(int level) const { return level == height_ - 1; }
    std::uint32_t count_of(Node* n, int level) const {
        return is_leaf(level) ? leaf(n).count : inner(n).count;
    }
    std::uint32_t cap_of(int level) const { return is_leaf(level) ? leaf_cap : inner_cap; }
    std::uint64_t first_key(Node* n, int level) const {
        return is_leaf(level) ? leaf(n).base[0] : inner(n).key[0];
    }
    std::uint64_t max_gap_of(Node* n, int level) const {
        std::uint64_t m = 0;
        if (is_leaf(level)) {
            const Leaf& lf = leaf(n);
            for (unsigned i = 0; i < lf.count; ++i)
                m = lf.gap[i] > m ? lf.gap[i] : m;
        } else {
            const Inner& in = inner(n);
            for (unsigned i = 0; i < in.count; ++i)
                m = in.max_gap[i] > m ? in.max_gap[i] : m;
        }
        return m;
    }

    // ---- The region at a position.
    Leaf& leaf_at(const Path& p) const { return leaf(p.node[height_ - 1]); }
    unsigned index_at(const Path& p) const { return p.idx[height_ - 1]; }
    std::uint64_t base_at(const Path& p) const { return leaf_at(p).base[index_at(p)]; }
    std::uint64_t end_at(const Path& p) const { return base_at(p) + leaf_at(p).size[index_at(p)]; }
    std::uint64_t usable_at(const Path& p) const {
        return base_at(p) + (leaf_at(p).guard[index_at(p)] & ~eager_bit);
    }
    bool eager_at(const Path& p) const { return (leaf_at(p).guard[index_at(p)] & eager_bit) != 0; }
    RegionBacking* backing_at(const Path& p) const { return backing_of(leaf_at(p).backing[index_at(p)]); }

    // The path to the last region with base <= addr; false when every region lies above addr (the path then
    // still leads to the leftmost leaf).
    bool locate(std::uint64_t addr, Path& p) const {
        if (root_ == nullptr)
            return false;
        // Fixed-length, branch-free scans (unused slots hold the largest key); only addr == max can count
        // an unused slot, hence the clamp.
        Node* n = root_;
        for (int l = 0; l < height_ - 1; ++l) {
            const Inner& in = inner(n);
            unsigned i = 0;
            for (unsigned j = 1; j < inner_cap; ++j)
                i += in.key[j] <= addr ? 1 : 0;
            i = i < in.count ? i : in.count - 1;
            p.node[l] = n;
            p.idx[l] = i;
            n = in.child[i];
            prefetch(n);
        }
        const Leaf& lf = leaf(n);
        p.node[height_ - 1] = n;
        p.idx[height_ - 1] = 0;
        if (lf.count == 0 || lf.base[0] > addr)
            return false;
        unsigned i = 0;
        for (unsigned j = 1; j < leaf_cap; ++j)
            i += lf.base[j] <= addr ? 1 : 0;
        p.idx[height_ - 1] = i < lf.count ? i : lf.count - 1;
        return true;
    }
    void must_locate(std::uint64_t addr, Path& p) const {
        bool found = locate(addr, p);
        AOS_ASSERT(found && base_at(p) == addr);
    }
    // The leaf where a region at addr goes, and its index there.
    unsigned insert_position(std::uint64_t addr, Path& p) const {
        if (locate(addr, p))
            return index_at(p) + 1;
        return 0; // below every region: the front of the leftmost leaf (or an empty tree)
    }
    bool containing(std::uint64_t addr, Path& p) const { return locate(addr, p) && addr < end_at(p); }

    // Paths are copied often; only the levels in use.
    void copy_path(Path& d, const Path& s) const {
        for (int l = 0; l < height_; ++l) {
            d.node[l] = s.node[l];
            d.idx[l] = s.idx[l];
        }
    }

    bool first_entry(Path& p) const {
        if (root_ == nullptr)
            return false;
        Node* n = root_;
        for (int l = 0; l < height_ - 1; ++l) {
            p.node[l] = n;
            p.idx[l] = 0;
            n = inner(n).child[0];
        }
        p.node[height_ - 1] = n;
        p.idx[height_ - 1] = 0;
        return leaf(n).count > 0;
    }
    bool last_entry(Path& p) const {
        if (root_ == nullptr)
            return false;
        Node* n = root_;
        for (int l = 0; l < height_ - 1; ++l) {
            p.node[l] = n;
            p.idx[l] = inner(n).count - 1;
            n = inner(n).child[p.idx[l]];
        }
        p.node[height_ - 1] = n;
        if (leaf(n).count == 0)
            return false;
        p.idx[height_ - 1] = leaf(n).count - 1;
        return true;
    }
    bool next_entry(Path& p) const {
        int l = height_ - 1;
        if (p.idx[l] + 1 < leaf(p.node[l]).count) {
            ++p.idx[l];
            return true;
        }
        int u = l - 1;
        while (u >= 0 && p.idx[u] + 1 >= inner(p.node[u]).count)
            --u;
        if (u < 0)
            return false;
        ++p.idx[u];
        for (int d = u + 1; d <= l; ++d) {
            p.node[d] = inner(p.node[d - 1]).child[p.idx[d - 1]];
            p.idx[d] = 0;
        }
        return true;
    }

    // ---- Changes.
    // Recomputes the key and maximum gap that the ancestors hold for p.node[level], upward, stopping where
    // nothing changed.
    void fix_up(const Path& p, int level) {
        for (int l = level; l > 0; --l) {
            Inner& parent = inner(p.node[l - 1]);
            unsigned s = p.idx[l - 1];
            std::uint64_t k = first_key(p.node[l], l);
            std::uint64_t m = max_gap_of(p.node[l], l);
            if (parent.key[s] == k && parent.max_gap[s] == m)
                return;
            parent.key[s] = k;
            parent.max_gap[s] = m;
        }
    }
    void refresh_slot(Inner& parent, unsigned s, int child_level) {
        parent.key[s] = first_key(parent.child[s], child_level);
        parent.max_gap[s] = max_gap_of(parent.child[s], child_level);
    }

    struct Entry {
        std::uint64_t base;
        std::uint64_t size;
        std::uint64_t gap;
        std::uint64_t guard;
        Node* backing;
    };
    static void put(Leaf& lf, unsigned i, const Entry& e) {
        lf.base[i] = e.base;
        lf.size[i] = e.size;
        lf.gap[i] = e.gap;
        lf.guard[i] = e.guard;
        lf.backing[i] = e.backing;
    }
    static Entry get(const Leaf& lf, unsigned i) {
        return Entry{lf.base[i], lf.size[i], lf.gap[i], lf.guard[i], lf.backing[i]};
    }
    static void leaf_insert(Leaf& lf, unsigned pos, const Entry& e) {
        for (unsigned i = lf.count; i > pos; --i)
            put(lf, i, get(lf, i - 1));
        put(lf, pos, e);
        ++lf.count;
    }
    static void leaf_erase(Leaf& lf, unsigned pos) {
        for (unsigned i = pos; i + 1 < lf.count; ++i)
            put(lf, i, get(lf, i + 1));
        --lf.count;
        lf.base[lf.count] = max;
    }
    static void inner_insert(Inner& in, unsigned pos, std::uint64_t key, std::uint64_t gap, Node* child) {
        for (unsigned i = in.count; i > pos; --i) {
            in.key[i] = in.key[i - 1];
            in.max_gap[i] = in.max_gap[i - 1];
            in.child[i] = in.child[i - 1];
        }
        in.key[pos] = key;
        in.max_gap[pos] = gap;
        in.child[pos] = child;
        ++in.count;
    }
    static void inner_erase(Inner& in, unsigned pos) {
        for (unsigned i = pos; i + 1 < in.count; ++i) {
            in.key[i] = in.key[i + 1];
            in.max_gap[i] = in.max_gap[i + 1];
            in.child[i] = in.child[i + 1];
        }
        --in.count;
        in.key[in.count] = max;
    }
    // Moves items [from, count) of n to the end of the (right-hand) node d.
    void move_tail(Node* n, Node* d, unsigned from, int level) {
        if (is_leaf(level)) {
            Leaf& s = leaf(n);
            Leaf& t = leaf(d);
            for (unsigned i = from; i < s.count; ++i)
                leaf_insert(t, t.count, get(s, i));
            for (unsigned i = from; i < s.count; ++i)
                s.base[i] = max;
            s.count = from;
        } else {
            Inner& s = inner(n);
            Inner& t = inner(d);
            for (unsigned i = from; i < s.count; ++i)
                inner_insert(t, t.count, s.key[i], s.max_gap[i], s.child[i]);
            for (unsigned i = from; i < s.count; ++i)
                s.key[i] = max;
            s.count = from;
        }
    }

    // Nodes an insertion at p's leaf needs: one per full node from the leaf up, and a new root when all are.
    std::size_t split_nodes(const Path& p) const {
        if (root_ == nullptr)
            return 1;
        std::size_t need = 0;
        for (int l = height_ - 1; l >= 0; --l) {
            if (count_of(p.node[l], l) < cap_of(l))
                return need;
            ++need;
        }
        return need + 1;
    }

    // Inserts e at index pos of p's leaf, splitting full nodes upward with nodes from the batch (as many as
    // split_nodes counted). p is stale afterwards.
    void insert_at(Path& p, unsigned pos, const Entry& e, Batch& batch) {
        if (root_ == nullptr) {
            root_ = make_leaf(batch.pop());
            height_ = 1;
            p.node[0] = root_;
        }
        ++entries_;
        int l = height_ - 1;
        Leaf& lf = leaf(p.node[l]);
        if (lf.count < leaf_cap) {
            leaf_insert(lf, pos, e);
            fix_up(p, l);
            return;
        }
        Node* right = make_leaf(batch.pop());
        // Appending (regions filling the space from the bottom) keeps the old leaf full; otherwise the
        // halves are even.
        unsigned half = pos == leaf_cap ? leaf_cap : (leaf_cap + 1) / 2;
        if (pos < half) {
            move_tail(p.node[l], right, half - 1, l);
            leaf_insert(lf, pos, e);
        } else {
            move_tail(p.node[l], right, half, l);
            leaf_insert(leaf(right), pos - half, e);
        }
        for (;;) {
            // p.node[l] has a new right sibling `right` to link in above it.
            if (l == 0) {
                Node* nr = make_inner(batch.pop());
                Inner& in = inner(nr);
                inner_insert(in, 0, first_key(root_, 0), max_gap_of(root_, 0), root_);
                inner_insert(in, 1, first_key(right, 0), max_gap_of(right, 0), right);
                AOS_ASSERT(height_ < max_height);
                root_ = nr;
                ++height_;
                return;
            }
            Inner& parent = inner(p.node[l - 1]);
            unsigned s = p.idx[l - 1];
            refresh_slot(parent, s, l);
            std::uint64_t rk = first_key(right, l);
            std::uint64_t rm = max_gap_of(right, l);
            if (parent.count < inner_cap) {
                inner_insert(parent, s + 1, rk, rm, right);
                fix_up(p, l - 1);
                return;
            }
            Node* sibling = make_inner(batch.pop());
            // As for leaves: an append leaves the old node as full as the new one's minimum allows.
            unsigned ih = s + 1 == inner_cap ? inner_cap + 1 - inner_min : (inner_cap + 1) / 2;
            if (s + 1 < ih) {
                move_tail(p.node[l - 1], sibling, ih - 1, l - 1);
                inner_insert(parent, s + 1, rk, rm, right);
            } else {
                move_tail(p.node[l - 1], sibling, ih, l - 1);
                inner_insert(inner(sibling), s + 1 - ih, rk, rm, right);
            }
            right = sibling;
            --l;
        }
    }

    // Removes the entry p points at; an empty leaf goes, underfull inner nodes borrow from or merge with a
    // sibling, upward. p is stale afterwards.
    void erase_at(Path& p) {
        int l = height_ - 1;
        leaf_erase(leaf(p.node[l]), p.idx[l]);
        --entries_;
        for (;;) {
            if (l == 0) {
                if (height_ > 1 && inner(root_).count == 1) {
                    Node* old = root_;
                    root_ = inner(old).child[0];
                    kill_tree_node(old);
                    --height_;
                } else if (height_ == 1 && leaf(root_).count == 0) {
                    kill_tree_node(root_);
                    root_ = nullptr;
                    height_ = 0;
                }
                return;
            }
            Node* n = p.node[l];
            std::uint32_t minimum = is_leaf(l) ? 1 : inner_min;
            if (count_of(n, l) >= minimum) {
                fix_up(p, l);
                return;
            }
            Inner& parent = inner(p.node[l - 1]);
            unsigned s = p.idx[l - 1];
            if (is_leaf(l)) {
                kill_tree_node(n);
                inner_erase(parent, s);
                --l;
                continue;
            }
            if (s > 0 && count_of(parent.child[s - 1], l) > minimum) {
                Inner& from = inner(parent.child[s - 1]);
                unsigned last = from.count - 1;
                inner_insert(inner(n), 0, from.key[last], from.max_gap[last], from.child[last]);
                inner_erase(from, last);
                refresh_slot(parent, s - 1, l);
                refresh_slot(parent, s, l);
                fix_up(p, l - 1);
                return;
            }
            if (s + 1 < parent.count && count_of(parent.child[s + 1], l) > minimum) {
                Inner& from = inner(parent.child[s + 1]);
                Inner& to = inner(n);
                inner_insert(to, to.count, from.key[0], from.max_gap[0], from.child[0]);
                inner_erase(from, 0);
                refresh_slot(parent, s, l);
                refresh_slot(parent, s + 1, l);
                fix_up(p, l - 1);
                return;
            }
            unsigned left = s > 0 ? s - 1 : s;
            AOS_ASSERT(left + 1 < parent.count);
            Node* gone = parent.child[left + 1];
            move_tail(gone, parent.child[left], 0, l);
            kill_tree_node(gone);
            inner_erase(parent, left + 1);
            refresh_slot(parent, left, l);
            --l;
        }
    }

    // A new region at [base, base + guard + size), at pos of p's leaf (from insert_position); the gap below
    // the next region shrinks to what is left above the new one. p is stale afterwards.
    void insert_region(Path& p, unsigned pos, std::uint64_t base, std::uint64_t guard, std::uint64_t size,
                       bool eager, Batch& batch) {
        std::uint64_t end = base + guard + size;
        std::uint64_t prev_end = lo_;
        if (root_ != nullptr) {
            // The next region follows the previous one (pos - 1 in p's leaf); with no previous region it is
            // the first (leaves are never empty).
            Path q;
            copy_path(q, p);
            bool more = true;
            if (pos > 0) {
                q.idx[height_ - 1] = pos - 1;
                prev_end = end_at(q);
                more = next_entry(q);
            } else {
                q.idx[height_ - 1] = 0;
            }
            if (more) {
                leaf_at(q).gap[index_at(q)] = base_at(q) - end;
                fix_up(q, height_ - 1);
            }
        }
        insert_at(p, pos,
                  Entry{base, guard + size, base - prev_end, guard | (eager ? eager_bit : 0), nullptr},
                  batch);
        reserved_bytes_ += guard + size;
    }

    // ---- The fit search.
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

    // Lowest gap below some region that fits, descending only into children whose largest gap is big
    // enough (O(log n) unless alignment rejects candidates); else the tail gap above the last region.
    bool find_gap(std::uint64_t guard, std::uint64_t size, std::uint64_t align, std::uint64_t& start) const {
        if (root_ != nullptr && find_lowest(root_, 0, guard + size, guard, size, align, start))
            return true;
        Path p;
        std::uint64_t last_end = last_entry(p) ? end_at(p) : lo_;
        return fit(last_end, hi_, guard, size, align, start);
    }
    bool find_lowest(Node* n, int level, std::uint64_t need, std::uint64_t guard, std::uint64_t size,
                     std::uint64_t align, std::uint64_t& start) const {
        if (is_leaf(level)) {
            const Leaf& lf = leaf(n);
            for (unsigned i = 0; i < lf.count; ++i) {
                if (lf.gap[i] >= need && fit(lf.base[i] - lf.gap[i], lf.base[i], guard, size, align, start))
                    return true;
            }
            return false;
        }
        const Inner& in = inner(n);
        for (unsigned i = 0; i < in.count; ++i) {
            if (in.max_gap[i] >= need) {
                prefetch(in.child[i]);
                if (find_lowest(in.child[i], level + 1, need, guard, size, align, start))
                    return true;
            }
        }
        return false;
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
        if (!b->inline_mode())
            return 1;
        return b->count < detail::vaddr_inline_ranges ? 0 : b->count + 1;
    }

    Backed& make_backed(std::uint64_t base, std::uint64_t size, Batch& batch) {
        Node* n = batch.pop();
        Backed& r = *::new (static_cast<void*>(n->storage)) Backed();
        r.base = base;
        r.size = size;
        r.self = n;
        return r;
    }

    // Records [addr, addr + size) as backed in the region at p, merging with its backed neighbours (as
    // many nodes in the batch as backed_nodes counted).
    void insert_backed(const Path& p, std::uint64_t addr, std::uint64_t size, Batch& batch) {
        Leaf& lf = leaf_at(p);
        unsigned i = index_at(p);
        if (lf.backing[i] == nullptr) {
            Node* n = batch.pop();
            RegionBacking& fresh = *::new (static_cast<void*>(n->storage)) RegionBacking();
            fresh.self = n;
            lf.backing[i] = n;
        }
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
                for (unsigned k = 0; k < b.count; ++k)
                    must(b.ranges.insert(make_backed(b.base[k], b.size[k], batch)));
                must(b.ranges.insert(make_backed(addr, size, batch)));
                b.count = 0;
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
    void release_subtree(Node* n, int level) {
        if (is_leaf(level)) {
            Leaf& lf = leaf(n);
            for (unsigned i = 0; i < lf.count; ++i) {
                if (RegionBacking* b = backing_of(lf.backing[i]))
                    free_backing(*b);
            }
        } else {
            Inner& in = inner(n);
            for (unsigned i = 0; i < in.count; ++i)
                release_subtree(in.child[i], level + 1);
        }
        kill_tree_node(n);
    }

    bool check_subtree(Node* n, int level, std::uint64_t& first, std::uint64_t& max_gap, std::size_t& nodes,
                       std::size_t& entries) const {
        ++nodes;
        std::uint32_t count = count_of(n, level);
        if (count == 0 || count > cap_of(level) || (level > 0 && !is_leaf(level) && count < inner_min))
            return false;
        if (is_leaf(level)) {
            const Leaf& lf = leaf(n);
            for (unsigned i = 1; i < count; ++i) {
                if (lf.base[i - 1] >= lf.base[i])
                    return false;
            }
            for (unsigned i = count; i < leaf_cap; ++i) {
                if (lf.base[i] != max)
                    return false;
            }
            entries += count;
        } else {
            const Inner& in = inner(n);
            for (unsigned i = count; i < inner_cap; ++i) {
                if (in.key[i] != max)
                    return false;
            }
            for (unsigned i = 0; i < count; ++i) {
                std::uint64_t f = 0;
                std::uint64_t m = 0;
                if (!check_subtree(in.child[i], level + 1, f, m, nodes, entries))
                    return false;
                if (f != in.key[i] || m != in.max_gap[i] || (i > 0 && in.key[i - 1] >= f))
                    return false;
            }
        }
        first = first_key(n, level);
        max_gap = max_gap_of(n, level);
        return true;
    }

    NodeAlloc& nodes_;
    std::uint64_t lo_;
    std::uint64_t hi_;
    mutable L lock_;
    Node* root_ = nullptr;
    int height_ = 0;
    std::size_t tree_nodes_ = 0;
    std::uint64_t entries_ = 0;
    std::uint64_t reserved_bytes_ = 0;
    std::uint64_t backed_bytes_ = 0;
    std::uint64_t backed_count_ = 0;
};

static_assert(mm::NodeAllocator<mm::Slab<VaddrNode, mm::ArenaRefill>, VaddrNode>);

} // namespace aos::vm
