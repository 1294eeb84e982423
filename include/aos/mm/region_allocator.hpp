// aos::mm::RegionAllocator: the physical memory manager init runs over RAM capabilities. It splits the
// original regions it is given into allocations, each with a capability for exactly its range, takes back
// whole allocations or sub-ranges of one, and finds fits in O(log n) on a B+ tree of allocated pieces
// whose free gaps are aggregated (largest gap per subtree).
//
//   aos::mm::RegionAllocator<MyCaps, MySlab> mm(caps, slab);     // FirstFit, NullLock
//   AOS_TRY(mm.add(ram_cap, 0x4000'0000, 256 << 20));
//   auto a = AOS_TRY(mm.alloc(64 << 10, 64 << 10));              // a.base, a.size, a.cap
//   AOS_TRY(mm.free(a.base + 4096, 4096));                       // give back one page of it
#pragma once

#include <aos/arch/page.hpp>
#include <aos/core/avl_tree.hpp>
#include <aos/core/btree.hpp>
#include <aos/core/list.hpp>
#include <aos/core/lock.hpp>
#include <aos/core/result.hpp>
#include <aos/mm/slab.hpp>

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <type_traits>

namespace aos::mm {

// What the allocator asks of capabilities. Init plugs in real invocations: `retype` derives a RAM/Frame
// capability for [offset, offset + size) of an original RAM capability, `release` is told that a sub-range
// of a derived capability came back (init may record it; the bytes are retyped again from the original
// later), and `destroy` deletes a derived capability once nothing of it is handed out. A kernel (which
// keeps this policy out of itself) or a capability-less hobby OS plugs in RangeCaps below; hosted tests a
// fake capability that records parentage and checks the exact accounting. `release` and `destroy` cannot
// fail: they run in the commit step, after every check passed.
template <class P>
concept CapPolicy = requires(P& p, const typename P::Cap& c, std::uint64_t offset, std::uint64_t size) {
    requires std::default_initializable<typename P::Cap> && std::copyable<typename P::Cap>;
    { p.retype(c, offset, size) } -> std::same_as<Result<typename P::Cap>>;
    { p.release(c, offset, size) } -> std::same_as<void>;
    { p.destroy(c) } -> std::same_as<void>;
};

// Fit policies, all O(log n) in the number of allocations when the alignment does not exceed a page
// (larger alignments also visit the big-enough gaps that miss the alignment). Init picks one for its
// memory server (BestFit keeps large holes for large requests); hosted tests run all three against a model.
struct FirstFit {}; // lowest address: the classic behaviour
struct BestFit {};  // smallest free segment that fits, lowest address among equals
struct NextFit {};  // lowest address at or after the end of the previous allocation, wrapping around

template <class F>
concept FitPolicy = std::same_as<F, FirstFit> || std::same_as<F, BestFit> || std::same_as<F, NextFit>;

template <class Cap>
struct RegionNode;

namespace detail {

// The node layouts. Every piece of metadata lives in one RegionNode (so one slab feeds the allocator), and
// the tree's nodes are eight cache lines wide, fetched together: a descent at 10^5 allocations touches 5
// nodes instead of the ~20 of a binary tree, the inner nodes (~0.3 MB there) stay in a core's L2 cache
// and the leaves (twelve entries each) in the last level. With 256-byte nodes (fan-out 7, six entries a
// leaf) a descent took 7 levels and the inner nodes 0.7 MB; the time at 10^5 was higher and more variable.
inline constexpr std::size_t region_node_target = 512;
inline constexpr std::size_t region_inner_fanout = 15;

// What an inner node knows of a child's free gaps: the largest, and (in pages, saturating) the most that
// a request aligned to 128 KiB or to 2 MiB (a large page) could use of any of them. Large alignments
// otherwise send a first-fit descent into subtrees whose big-enough gaps all miss the alignment; those
// between the two and above 2 MiB still can (docs/memory.md has the figures). A third alignment cost every
// change ~10 % at 10^3 allocations.
struct GapSummary {
    static constexpr std::uint64_t align_a = std::uint64_t{1} << 17;
    static constexpr std::uint64_t align_b = std::uint64_t{1} << 21;
    static constexpr std::uint32_t saturated = ~std::uint32_t{0};

    std::uint64_t max = 0;
    std::uint32_t usable_a = 0;
    std::uint32_t usable_b = 0;
    bool operator==(const GapSummary&) const = default;
};

// A leaf of the entry tree: entries sorted by base, in arrays so that a scan reads only what it compares.
// An entry is an allocated piece [base, base + size) or, with size 0, the start of an original region;
// `gap` is the free space that follows it up to the next entry or the end of its region (so free space
// never spans two regions, and coalescing is implicit). An entry's link is a piece's allocation record
// once the allocation was split or trimmed (null while the piece is the whole allocation; the capability
// then moves to the record), or a region start's region. A capability that is plain bytes at least a
// pointer wide holds the link itself when there is one (bit i of `linked`), which saves a field per entry.
template <class Cap>
inline constexpr bool link_in_cap = std::is_trivially_copyable_v<Cap> && sizeof(Cap) >= sizeof(void*);

template <class Cap>
struct RegionLeaf {
    static constexpr bool punned = link_in_cap<Cap>;
    static constexpr std::size_t entry_bytes = 3 * sizeof(std::uint64_t) + sizeof(Cap) + (punned ? 0 : 8);
    static constexpr std::size_t fit = (region_node_target - 16) / entry_bytes;
    static constexpr std::size_t capacity = fit >= 4 ? fit : 4;

    std::uint32_t count = 0;
    std::uint32_t linked = 0; // punned: bit i set when cap[i] holds entry i's link
    std::uint64_t base[capacity] = {};
    std::uint64_t size[capacity] = {};
    std::uint64_t gap[capacity] = {};
    Cap cap[capacity] = {};
    RegionNode<Cap>* link[punned ? 1 : capacity] = {}; // not punned: the links
};

// An inner node: per child, the lowest base in it, the summary of its gaps, and the child.
template <class Cap>
using RegionInner = core::BTreeInner<RegionNode<Cap>, GapSummary, region_inner_fanout>;

// An original region, in a small AVL tree of regions (an embedder adds a handful).
template <class Cap>
struct RegionRecord {
    core::TreeHook<RegionRecord> hook;
    RegionNode<Cap>* self = nullptr;
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    Cap cap{};
    std::uint64_t end() const { return base + size; }
};

// An allocation that was split or trimmed by a partial free: where it started (capability offsets are
// relative to it), how long it was, the bytes of it still handed out, and its capability.
template <class Cap>
struct AllocationRecord {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    std::uint64_t outstanding = 0;
    Cap cap{};
};

template <class Cap>
struct SizeBlock;

// BestFit: a free segment keyed by (size, start) in the size index.
template <class Cap>
struct SizeRecord {
    core::TreeHook<SizeRecord> hook;
    SizeBlock<Cap>* block = nullptr;
    SizeRecord* next_spare = nullptr;
    std::uint64_t size = 0;
    std::uint64_t start = 0;
};

// BestFit: size records, several to a node; one node each would cost BestFit a whole node per allocation.
// A block is in its allocator's list of blocks with a free slot or in the list of full ones, and goes back
// to the node allocator when its last record does.
template <class Cap>
struct SizeBlock {
    static constexpr std::size_t header_bytes =
        sizeof(core::ListHook<SizeBlock>) + sizeof(RegionNode<Cap>*) + sizeof(std::uint64_t);
    static constexpr std::uint32_t slots =
        static_cast<std::uint32_t>((region_node_target - header_bytes) / sizeof(SizeRecord<Cap>));
    static constexpr std::uint32_t all_free =
        slots == 32 ? ~std::uint32_t{0} : (std::uint32_t{1} << slots) - 1;
    static_assert(slots >= 2 && slots <= 32);

    core::ListHook<SizeBlock> hook;
    RegionNode<Cap>* self = nullptr;
    std::uint32_t free_mask = all_free; // bit i: rec[i] is free
    SizeRecord<Cap> rec[slots];

    std::uint32_t used() const { return slots - static_cast<std::uint32_t>(__builtin_popcount(free_mask)); }
};

template <class... T>
constexpr std::size_t max_sizeof() {
    std::size_t m = 0;
    ((m = sizeof(T) > m ? sizeof(T) : m), ...);
    return m;
}

} // namespace detail

// The one metadata node type: raw storage that holds a tree leaf, a tree inner node, an original region,
// an allocation record or a BestFit size-index entry. Slabs feeding a RegionAllocator hold these.
template <class Cap>
struct alignas(64) RegionNode {
    static constexpr std::size_t bytes =
        (detail::max_sizeof<detail::RegionLeaf<Cap>, detail::RegionInner<Cap>, detail::RegionRecord<Cap>,
                            detail::AllocationRecord<Cap>, detail::SizeBlock<Cap>>() +
         63) /
        64 * 64;
    alignas(64) std::byte storage[bytes];
};

template <class Cap>
struct Allocation {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    Cap cap{};
};

struct RegionStats {
    std::uint64_t total = 0;
    std::uint64_t free = 0;
    std::uint64_t allocated = 0;
    std::uint64_t free_segments = 0;
    std::uint64_t largest_free = 0;
    bool operator==(const RegionStats&) const = default;
};

namespace detail {

template <class N>
struct ByBase {
    static bool less(const N& a, const N& b) { return a.base < b.base; }
};

template <class N>
struct BySize {
    static bool less(const N& a, const N& b) {
        return a.size != b.size ? a.size < b.size : a.start < b.start;
    }
};

} // namespace detail

template <class Caps, class NodeAlloc, class Fit = FirstFit, core::Lock L = core::NullLock>
    requires CapPolicy<Caps> && NodeAllocator<NodeAlloc, RegionNode<typename Caps::Cap>> && FitPolicy<Fit>
class RegionAllocator {
public:
    using Cap = typename Caps::Cap;
    using Node = RegionNode<Cap>;
    using Alloc = Allocation<Cap>;

    // The tree's height is bounded by the address space: at most 2^53 entries (pieces of at least a page
    // and region starts), inner nodes with at least seven children below the root.
    static constexpr int max_height = 36;
    // Nodes one call may need at most: a leaf split at every level and a new root, an allocation record
    // and a BestFit block of size records. In practice a call needs none (a leaf has room) or one; a slab
    // feeding the allocator keeps `nodes_per_call()` per concurrent caller in reserve (the tree's height + 3:
    // 8 at 10^5 allocations).
    static constexpr std::size_t max_nodes_per_call = max_height + 3;

    RegionAllocator(Caps& caps, NodeAlloc& nodes) : caps_(caps), nodes_(nodes) {}
    RegionAllocator(const RegionAllocator&) = delete;
    RegionAllocator& operator=(const RegionAllocator&) = delete;

    // Returns every node to the node allocator. Capabilities are the embedder's: none is destroyed here.
    ~RegionAllocator() {
        release_tree();
        if constexpr (best_fit) {
            while (SizeRec* s = by_size_.first())
                must(by_size_.erase(*s));
            spares_ = nullptr;
            for (BlockList* list : {&open_blocks_, &full_blocks_}) {
                while (SizeBlock* b = list->pop_front()) {
                    Node* n = b->self;
                    b->~SizeBlock();
                    nodes_.deallocate(n);
                }
            }
        }
        while (RegionRec* r = regions_.first()) {
            must(regions_.erase(*r));
            nodes_.deallocate(r->self);
        }
    }

    // What one call may need now: a split at every level of the tree, a new root, a record, a size entry.
    std::size_t nodes_per_call() const {
        core::LockGuard guard(lock_);
        return static_cast<std::size_t>(tree_.height()) + 3;
    }

    // Adds the original region [base, base + size) held by `cap`. Errors: zero_size, misaligned (base or
    // size not page-aligned), overflow (the range wraps), overlap (with a region already added), no_memory.
    Result<void> add(const Cap& cap, std::uint64_t base, std::uint64_t size) {
        AOS_TRY(check_range(base, size));
        return with_nodes(0, [&](Batch& batch, std::size_t& more) -> Result<void> {
            if (overlaps_region(base, base + size))
                return error(Errc::overlap);
            Path p;
            unsigned pos = tree_.insert_position(base, p);
            std::size_t need = 1 + tree_.split_nodes(p) + size_record_nodes();
            if (batch.short_of(need, more))
                return ok();
            Node* rn = batch.pop();
            RegionRec* region = ::new (static_cast<void*>(rn->storage)) RegionRec();
            region->self = rn;
            region->base = base;
            region->size = size;
            region->cap = cap;
            must(regions_.insert(*region));
            Entry e{base, 0, size, rn, Cap{}};
            add_entry_gap(e, batch);
            tree_.insert_at(p, pos, e, batch);
            total_ += size;
            free_bytes_ += size;
            return ok();
        });
    }

    // Allocates `size` bytes (rounded up to whole pages) at a multiple of `align` (a power of two; any
    // alignment below a page means a page). Errors: zero_size, invalid_argument (align not a power of two),
    // overflow, no_memory (no fit, or no metadata node), or the CapPolicy's retype error.
    Result<Alloc> alloc(std::uint64_t size, std::uint64_t align = arch::page_size) {
        return alloc_in_range(size, align, 0, u64_max);
    }

    // As alloc, but the allocation lies within [lo, hi); lowest address first whatever the fit policy (a
    // range request asks for a place, not a policy). invalid_argument when lo >= hi.
    Result<Alloc> alloc_in_range(std::uint64_t size, std::uint64_t align, std::uint64_t lo,
                                 std::uint64_t hi) {
        if (size == 0)
            return error(Errc::zero_size);
        if (!std::has_single_bit(align) || lo >= hi)
            return error(Errc::invalid_argument);
        if (size > u64_max - (arch::page_size - 1))
            return error(Errc::overflow);
        size = arch::page_up(size);
        if (align < arch::page_size)
            align = arch::page_size;
        bool whole = lo == 0 && hi == u64_max;

        Result<Alloc> result = error(Errc::no_memory);
        // Usually a leaf has room and a block of size records a free slot, and no node is needed.
        Result<void> done = with_nodes(0, [&](Batch& batch, std::size_t& more) -> Result<void> {
            Path p;
            std::uint64_t start = 0;
            bool found =
                whole ? find_by_policy(size, align, p, start) : find_in(size, align, lo, hi, p, start);
            if (!found)
                return ok(); // result stays no_memory
            std::size_t need = tree_.split_nodes(p) + size_record_nodes();
            if (batch.short_of(need, more))
                return ok();
            const RegionRec* region = region_of(start);
            Result<Cap> cap = caps_.retype(region->cap, start - region->base, size);
            if (!cap) {
                result = error(cap.error());
            } else {
                commit_alloc(p, start, size, *cap, batch);
                result = Alloc{start, size, *cap};
            }
            return ok();
        });
        if (!done)
            return error(done.error());
        return result;
    }

    // Returns [base, base + size), which must lie within one piece of one allocation (a whole allocation
    // or a sub-range of what is left of it). Errors: zero_size, misaligned, overflow, not_allocated (some
    // byte is free or outside every region: a double free), invalid_argument (the range runs on into
    // another allocation), no_memory (no metadata node for the split).
    Result<void> free(std::uint64_t base, std::uint64_t size) { return free_checked(nullptr, base, size); }

    // As free, but also checks that the range belongs to the allocation `cap` was handed out with (a server
    // freeing on a client's behalf): permission_denied when it does not.
    Result<void> free(const Cap& cap, std::uint64_t base, std::uint64_t size)
        requires std::equality_comparable<Cap>
    {
        return free_checked(&cap, base, size);
    }

    // Metadata nodes held: regions, tree nodes, allocation records and (BestFit) blocks of size records.
    std::size_t node_count() const {
        core::LockGuard guard(lock_);
        return regions_.size() + tree_.node_count() + records_ + open_blocks_.size() + full_blocks_.size();
    }

    RegionStats stats() const {
        core::LockGuard guard(lock_);
        return RegionStats{total_, free_bytes_, total_ - free_bytes_, free_count_, tree_.root_summary().max};
    }

    // Checks the tree (fill, keys and maxima exact, entries sorted), that pieces and gaps tile each region
    // exactly and start with the region's own entry, the records, the size index and the counters. O(n).
    [[nodiscard]] bool check_invariants() const {
        core::LockGuard guard(lock_);
        if (!regions_.check_invariants())
            return false;
        // The walk below puts each piece right after its predecessor in its region: the order the tree keeps.
        if (!tree_.check())
            return false;
        std::uint64_t total = 0;
        std::uint64_t free_bytes = 0;
        std::size_t free_count = 0;
        Path p;
        bool more = tree_.first_entry(p);
        const RegionRec* prev_region = nullptr;
        for (const RegionRec* r = regions_.first(); r != nullptr; r = RegionTree::next(*r)) {
            if (r->size == 0 || r->self == nullptr ||
                (prev_region != nullptr && prev_region->end() > r->base))
                return false;
            total += r->size;
            if (!more)
                return false;
            Entry e = entry(p);
            if (e.base != r->base || e.size != 0 || e.link != r->self)
                return false; // a region starts with its own entry
            std::uint64_t pos = r->base;
            for (;;) {
                if (e.size != 0) {
                    if (e.base != pos || !arch::page_aligned(e.size) || e.size > r->end() - e.base)
                        return false;
                    if (e.link != nullptr) {
                        const auto& rec = record(e.link);
                        if (e.base < rec.base || e.base + e.size > rec.base + rec.size ||
                            rec.outstanding < e.size)
                            return false;
                    }
                }
                if (!arch::page_aligned(e.gap) || e.gap > r->end() - e.base - e.size)
                    return false;
                if (e.gap != 0) {
                    free_bytes += e.gap;
                    ++free_count;
                    if constexpr (best_fit) {
                        std::uint64_t start = e.base + e.size;
                        if (by_size_.find([&](const SizeRec& s) { return size_probe(s, e.gap, start); }) ==
                            nullptr)
                            return false;
                    }
                }
                pos = e.base + e.size + e.gap;
                more = tree_.next_entry(p);
                if (!more)
                    break;
                e = entry(p);
                if (e.size == 0)
                    break; // the next region's entry
            }
            if (pos != r->end())
                return false;
            prev_region = r;
        }
        if (more)
            return false; // an entry outside every region
        if constexpr (best_fit) {
            std::size_t spares = 0;
            for (const SizeRec* s = spares_; s != nullptr; s = s->next_spare)
                ++spares;
            if (!by_size_.check_invariants() || by_size_.size() != free_count ||
                by_size_.size() + spares != tree_.size() || !size_blocks_consistent())
                return false;
        }
        return total == total_ && free_bytes == free_bytes_ && free_count == free_count_;
    }

private:
    using Leaf = detail::RegionLeaf<Cap>;
    using RegionRec = detail::RegionRecord<Cap>;
    using Record = detail::AllocationRecord<Cap>;
    using SizeRec = detail::SizeRecord<Cap>;
    using SizeBlock = detail::SizeBlock<Cap>;
    using BlockList = core::IntrusiveList<SizeBlock, &SizeBlock::hook>;
    static_assert(sizeof(SizeBlock) <= detail::region_node_target);
    using RegionTree = core::AvlTree<RegionRec, &RegionRec::hook, detail::ByBase<RegionRec>>;
    using SizeTree = core::AvlTree<SizeRec, &SizeRec::hook, detail::BySize<SizeRec>>;
    using Batch = NodeBatch<Node, max_nodes_per_call>;

    // mm::with_nodes over this allocator's node allocator and lock.
    template <class F>
    Result<void> with_nodes(std::size_t first, F&& change) {
        return mm::with_nodes<Node, max_nodes_per_call>(nodes_, lock_, first, change);
    }
    using Summary = detail::GapSummary;

    static constexpr bool best_fit = std::same_as<Fit, BestFit>;
    static constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
    static_assert(!Leaf::punned || Leaf::capacity <= 32); // the link bits

    struct Entry {
        std::uint64_t base;
        std::uint64_t size;
        std::uint64_t gap;
        Node* link;
        Cap cap;
    };

    // The entry tree: an inner node's summary of a child is that of its free gaps. Inner nodes keep at
    // least seven of fifteen children below the root.
    struct TreeTraits {
        using Node = RegionNode<Cap>;
        using Leaf = detail::RegionLeaf<Cap>;
        using Entry = RegionAllocator::Entry;
        using Summary = detail::GapSummary;
        static constexpr std::uint32_t leaf_cap = Leaf::capacity;
        static constexpr std::uint32_t inner_cap = detail::region_inner_fanout;
        static constexpr std::uint32_t inner_min = inner_cap / 2;
        static constexpr int max_height = RegionAllocator::max_height;

        static Summary leaf_summary(const Leaf& lf) {
            Summary m;
            for (std::uint32_t i = 0; i < lf.count; ++i) {
                if (lf.gap[i] == 0)
                    continue;
                std::uint64_t gs = lf.base[i] + lf.size[i];
                std::uint64_t ge = gs + lf.gap[i];
                merge(m, Summary{lf.gap[i], usable_pages(gs, ge, Summary::align_a),
                                 usable_pages(gs, ge, Summary::align_b)});
            }
            return m;
        }
        static void merge(Summary& into, const Summary& s) {
            into.max = s.max > into.max ? s.max : into.max;
            into.usable_a = s.usable_a > into.usable_a ? s.usable_a : into.usable_a;
            into.usable_b = s.usable_b > into.usable_b ? s.usable_b : into.usable_b;
        }
        static void put(Leaf& lf, unsigned i, const Entry& e) { RegionAllocator::put(lf, i, e); }
        static void move_entry(Leaf& d, unsigned di, Leaf& s, unsigned si) {
            d.base[di] = s.base[si];
            d.size[di] = s.size[si];
            d.gap[di] = s.gap[si];
            d.cap[di] = static_cast<Cap&&>(s.cap[si]);
            if constexpr (Leaf::punned) {
                d.linked = (d.linked & ~(std::uint32_t{1} << di)) | (((s.linked >> si) & 1) << di);
            } else {
                d.link[di] = s.link[si];
            }
        }
        // A slot out of use holds no capability.
        static void vacate(Leaf& lf, unsigned i) { lf.cap[i] = Cap{}; }
    };
    using Tree = core::BTree<TreeTraits>;
    using Path = typename Tree::Path;

    // Nodes given back after the lock is released.
    struct Dead {
        Node* nodes[max_height + 4] = {};
        std::size_t count = 0;
        void push(Node* n) {
            AOS_ASSERT(count < max_height + 4);
            nodes[count++] = n;
        }
    };

    static void must(Result<void> r) { AOS_ASSERT(r.has_value()); }

    static Record& record(Node* n) { return *std::launder(reinterpret_cast<Record*>(n->storage)); }

    // Pages of [gs, ge) usable from its first multiple of align on, saturating.
    static std::uint32_t usable_pages(std::uint64_t gs, std::uint64_t ge, std::uint64_t align) {
        if (gs > u64_max - (align - 1))
            return 0;
        std::uint64_t s = arch::align_up(gs, align);
        std::uint64_t pages = s < ge ? (ge - s) >> arch::page_shift : 0;
        return pages < Summary::saturated ? static_cast<std::uint32_t>(pages) : Summary::saturated;
    }

    static Node* link_of(const Leaf& lf, unsigned i) {
        if constexpr (Leaf::punned) {
            if (((lf.linked >> i) & 1) == 0)
                return nullptr;
            Node* n = nullptr;
            __builtin_memcpy(static_cast<void*>(&n), static_cast<const void*>(&lf.cap[i]), sizeof(n));
            return n;
        } else {
            return lf.link[i];
        }
    }
    // The capability of entry i: a split piece's is in its record (a region start has none).
    static Cap cap_of(const Leaf& lf, unsigned i) {
        if constexpr (Leaf::punned) {
            if (((lf.linked >> i) & 1) != 0)
                return lf.size[i] != 0 ? record(link_of(lf, i)).cap : Cap{};
        }
        return lf.cap[i];
    }
    static void set_link(Leaf& lf, unsigned i, Node* link, const Cap& cap) {
        if constexpr (Leaf::punned) {
            lf.cap[i] = cap;
            lf.linked &= ~(std::uint32_t{1} << i);
            if (link != nullptr) {
                __builtin_memcpy(static_cast<void*>(&lf.cap[i]), static_cast<const void*>(&link),
                                 sizeof(link));
                lf.linked |= std::uint32_t{1} << i;
            }
        } else {
            lf.link[i] = link;
            lf.cap[i] = cap;
        }
    }
    static Entry get(const Leaf& lf, unsigned i) {
        return Entry{lf.base[i], lf.size[i], lf.gap[i], link_of(lf, i), cap_of(lf, i)};
    }
    static void put(Leaf& lf, unsigned i, const Entry& e) {
        lf.base[i] = e.base;
        lf.size[i] = e.size;
        lf.gap[i] = e.gap;
        set_link(lf, i, e.link, e.cap);
    }

    // The path to the last entry with base <= addr; false when every entry lies above addr.
    bool locate(std::uint64_t addr, Path& p) const { return tree_.locate(addr, p); }
    Entry entry(const Path& p) const { return get(tree_.leaf_at(p), tree_.index_at(p)); }
    Leaf& leaf_at(const Path& p) const { return tree_.leaf_at(p); }
    unsigned index_at(const Path& p) const { return tree_.index_at(p); }
    static Result<void> check_range(std::uint64_t base, std::uint64_t size) {
        if (size == 0)
            return error(Errc::zero_size);
        if (!arch::page_aligned(base) || !arch::page_aligned(size))
            return error(Errc::misaligned);
        if (base > u64_max - size)
            return error(Errc::overflow);
        return ok();
    }

    bool overlaps_region(std::uint64_t base, std::uint64_t end) const {
        RegionRec* below = regions_.floor([&](const RegionRec& n) { return core::three_way(n.base, base); });
        if (below != nullptr && below->end() > base)
            return true;
        RegionRec* above =
            regions_.lower_bound([&](const RegionRec& n) { return core::three_way(n.base, base); });
        return above != nullptr && above->base < end;
    }
    const RegionRec* region_of(std::uint64_t addr) const {
        const RegionRec* r =
            regions_.floor([&](const RegionRec& n) { return core::three_way(n.base, addr); });
        AOS_ASSERT(r != nullptr && addr < r->end());
        return r;
    }

    // The aligned start of a `size` fit within [b, e) clipped to [lo, hi), if there is one.
    static bool fit(std::uint64_t b, std::uint64_t e, std::uint64_t size, std::uint64_t align,
                    std::uint64_t lo, std::uint64_t hi, std::uint64_t& start) {
        b = b > lo ? b : lo;
        e = e < hi ? e : hi;
        if (b > u64_max - (align - 1))
            return false;
        std::uint64_t s = arch::align_up(b, align);
        if (s >= e || e - s < size)
            return false;
        start = s;
        return true;
    }

    // What a lowest-address search looks for: a free gap starting in [lo_start, hi_start) with an aligned
    // fit of `size` once clipped to [lo, hi).
    struct Query {
        std::uint64_t size;
        std::uint64_t align;
        std::uint64_t lo_start;
        std::uint64_t hi_start;
        std::uint64_t lo;
        std::uint64_t hi;
    };
    // Whether a subtree with summary s may hold a fit for q (a necessary condition only).
    static bool may_fit(const Summary& s, const Query& q) {
        if (s.max < q.size)
            return false;
        std::uint64_t pages = q.size >> arch::page_shift;
        if (q.align >= Summary::align_b)
            return s.usable_b == Summary::saturated || s.usable_b >= pages;
        if (q.align >= Summary::align_a)
            return s.usable_a == Summary::saturated || s.usable_a >= pages;
        return true;
    }

    // The lowest entry whose gap matches q. Descends only into children whose largest gap is big enough and
    // whose addresses can match: O(log n) unless alignment or clipping rejects big-enough gaps.
    bool find_lowest(const Query& q, Path& p, std::uint64_t& start) const {
        std::uint64_t lo = q.lo > q.lo_start ? q.lo : q.lo_start;
        std::uint64_t hi = q.hi < q.hi_start ? q.hi : q.hi_start;
        return tree_.find_lowest(
            p,
            [&](std::uint64_t key, std::uint64_t bound, const Summary& sum) {
                if (key >= hi)
                    return core::BTreeStep::stop;
                return may_fit(sum, q) && bound > lo ? core::BTreeStep::enter : core::BTreeStep::skip;
            },
            [&](const Leaf& lf, unsigned& idx) {
                for (unsigned i = 0; i < lf.count; ++i) {
                    if (lf.gap[i] < q.size)
                        continue;
                    std::uint64_t gs = lf.base[i] + lf.size[i];
                    if (gs >= hi)
                        return false;
                    if (gs < q.lo_start)
                        continue;
                    if (fit(gs, gs + lf.gap[i], q.size, q.align, q.lo, q.hi, start)) {
                        idx = i;
                        return true;
                    }
                }
                return false;
            });
    }

    bool find_in(std::uint64_t size, std::uint64_t align, std::uint64_t lo, std::uint64_t hi, Path& p,
                 std::uint64_t& start) const {
        return find_lowest(Query{size, align, 0, u64_max, lo, hi}, p, start);
    }

    bool find_by_policy(std::uint64_t size, std::uint64_t align, Path& p, std::uint64_t& start) const {
        if (tree_.root() == nullptr)
            return false;
        if constexpr (std::same_as<Fit, FirstFit>) {
            return find_lowest(Query{size, align, 0, u64_max, 0, u64_max}, p, start);
        } else if constexpr (std::same_as<Fit, NextFit>) {
            return find_lowest(Query{size, align, cursor_, u64_max, 0, u64_max}, p, start) ||
                   find_lowest(Query{size, align, 0, cursor_, 0, u64_max}, p, start);
        } else {
            SizeRec* s =
                by_size_.lower_bound([&](const SizeRec& x) { return core::three_way(x.size, size); });
            for (; s != nullptr; s = SizeTree::next(*s)) {
                if (fit(s->start, s->start + s->size, size, align, 0, u64_max, start)) {
                    // The gap's owner is the last entry at or below its start (no entry starts inside it).
                    bool found = locate(s->start, p);
                    AOS_ASSERT(found && entry(p).base + entry(p).size == s->start);
                    return found;
                }
            }
            return false;
        }
    }

    static int size_probe(const SizeRec& s, std::uint64_t size, std::uint64_t start) {
        if (s.size != size)
            return s.size < size ? -1 : 1;
        return core::three_way(s.start, start);
    }

    // Free-gap bookkeeping for one entry whose gap changes from [old_start, +old_gap) to
    // [new_start, +new_gap): the free segment count and, for BestFit, the size index. Each entry owns one
    // size record, linked while its gap is non-empty and parked on the spare list otherwise.
    void regap(std::uint64_t old_gap, std::uint64_t old_start, std::uint64_t new_gap,
               std::uint64_t new_start) {
        free_count_ += (new_gap != 0 ? 1 : 0);
        free_count_ -= (old_gap != 0 ? 1 : 0);
        if constexpr (best_fit) {
            if ((old_gap == 0 && new_gap == 0) || (old_gap == new_gap && old_start == new_start))
                return;
            SizeRec* s = nullptr;
            if (old_gap != 0) {
                s = by_size_.find([&](const SizeRec& x) { return size_probe(x, old_gap, old_start); });
                AOS_ASSERT(s != nullptr);
                must(by_size_.erase(*s));
            } else {
                AOS_ASSERT(spares_ != nullptr);
                s = spares_;
                spares_ = s->next_spare;
            }
            if (new_gap != 0) {
                s->size = new_gap;
                s->start = new_start;
                must(by_size_.insert(*s));
            } else {
                s->next_spare = spares_;
                spares_ = s;
            }
        }
    }
    // A new entry brings its size record (BestFit) and its gap.
    void add_entry_gap(const Entry& e, Batch& batch) {
        if constexpr (best_fit) {
            SizeRec* s = take_size_record(batch);
            s->next_spare = spares_;
            spares_ = s;
        }
        regap(0, 0, e.gap, e.base + e.size);
    }
    // An entry about to be erased, its gap already handed to its predecessor, gives back its size record.
    void drop_entry(Dead& dead) {
        if constexpr (best_fit) {
            SizeRec* s = spares_;
            AOS_ASSERT(s != nullptr);
            spares_ = s->next_spare;
            give_back_size_record(s, dead);
        }
    }

    // BestFit's size records come from blocks (see SizeBlock): a slot of the first block with one free, or
    // of a new block made of the batch's node, which a new entry then needs.
    std::size_t size_record_nodes() const { return best_fit && open_blocks_.empty() ? 1 : 0; }
    SizeRec* take_size_record(Batch& batch) {
        SizeBlock* b = open_blocks_.front();
        if (b == nullptr) {
            Node* n = batch.pop();
            b = ::new (static_cast<void*>(n->storage)) SizeBlock();
            b->self = n;
            must(open_blocks_.push_front(*b));
        }
        unsigned i = static_cast<unsigned>(__builtin_ctz(b->free_mask));
        b->free_mask &= ~(std::uint32_t{1} << i);
        if (b->free_mask == 0) {
            must(open_blocks_.erase(*b));
            must(full_blocks_.push_front(*b));
        }
        SizeRec* s = &b->rec[i];
        AOS_ASSERT(!s->hook.linked());
        s->block = b;
        return s;
    }
    void give_back_size_record(SizeRec* s, Dead& dead) {
        SizeBlock* b = s->block;
        AOS_ASSERT(!s->hook.linked());
        if (b->free_mask == 0) {
            must(full_blocks_.erase(*b));
            must(open_blocks_.push_front(*b));
        }
        b->free_mask |= std::uint32_t{1} << static_cast<unsigned>(s - b->rec);
        if (b->free_mask == SizeBlock::all_free) {
            must(open_blocks_.erase(*b));
            Node* n = b->self;
            b->~SizeBlock();
            dead.push(n);
        }
    }
    // Each list sound and holding only blocks of its kind, and one used slot per entry.
    bool size_blocks_consistent() const {
        std::size_t used = 0;
        for (const SizeBlock& b : open_blocks_) {
            if (b.free_mask == 0 || b.free_mask == SizeBlock::all_free ||
                (b.free_mask & ~SizeBlock::all_free) != 0)
                return false;
            used += b.used();
        }
        for (const SizeBlock& b : full_blocks_) {
            if (b.free_mask != 0)
                return false;
            used += SizeBlock::slots;
        }
        return open_blocks_.check_invariants() && full_blocks_.check_invariants() && used == tree_.size();
    }

    // Commit steps: every check has passed, nothing below can fail.
    void commit_alloc(Path& p, std::uint64_t start, std::uint64_t size, const Cap& cap, Batch& batch) {
        Leaf& lf = leaf_at(p);
        unsigned i = index_at(p);
        std::uint64_t gs = lf.base[i] + lf.size[i];
        std::uint64_t ge = gs + lf.gap[i];
        std::uint64_t end = start + size;
        regap(lf.gap[i], gs, start - gs, gs);
        lf.gap[i] = start - gs;
        Entry e{start, size, ge - end, nullptr, cap};
        add_entry_gap(e, batch);
        tree_.insert_at(p, i + 1, e, batch);
        free_bytes_ -= size;
        cursor_ = end;
    }

    // free, with the capability check when cap is given.
    Result<void> free_checked(const Cap* cap, std::uint64_t base, std::uint64_t size) {
        AOS_TRY(check_range(base, size));
        std::uint64_t end = base + size;
        Dead dead;
        // Freeing a whole piece needs no node, so an allocator whose slab ran dry can always take back whole
        // allocations.
        Result<void> result = with_nodes(0, [&](Batch& batch, std::size_t& more) -> Result<void> {
            Path p;
            AOS_TRY(find_piece(base, end, p));
            Entry piece = entry(p);
            if constexpr (std::equality_comparable<Cap>) {
                if (cap != nullptr && !(piece.cap == *cap))
                    return error(Errc::permission_denied);
            }
            bool whole = base == piece.base && end == piece.base + piece.size;
            bool middle = base > piece.base && end < piece.base + piece.size;
            std::size_t need = (!whole && piece.link == nullptr ? 1 : 0) +
                               (middle ? tree_.split_nodes(p) + size_record_nodes() : 0);
            if (batch.short_of(need, more))
                return ok();
            commit_free(p, base, end, batch, dead);
            return ok();
        });
        for (std::size_t i = 0; i < dead.count; ++i)
            nodes_.deallocate(dead.nodes[i]);
        return result;
    }

    // The path to the piece holding all of [base, end), or why there is none.
    Result<void> find_piece(std::uint64_t base, std::uint64_t end, Path& p) const {
        if (!locate(base, p))
            return error(Errc::not_allocated);
        Entry e = entry(p);
        std::uint64_t piece_end = e.base + e.size;
        if (e.size == 0 || base >= piece_end)
            return error(Errc::not_allocated);
        if (end > piece_end) {
            // Another allocation's piece right behind this one (across a region boundary too) means the
            // range runs on into it.
            bool runs_on = false;
            Path q;
            tree_.copy_path(q, p);
            if (e.gap == 0 && tree_.next_entry(q)) {
                Entry n = entry(q);
                if (n.size == 0 && n.gap == 0 && tree_.next_entry(q))
                    n = entry(q);
                runs_on = n.size != 0 && n.base == piece_end;
            }
            return error(runs_on ? Errc::invalid_argument : Errc::not_allocated);
        }
        return ok();
    }

    void commit_free(Path& p, std::uint64_t base, std::uint64_t end, Batch& batch, Dead& dead) {
        Leaf& lf = leaf_at(p);
        unsigned i = index_at(p);
        Entry piece = get(lf, i);
        std::uint64_t piece_end = piece.base + piece.size;
        std::uint64_t size = end - base;
        bool left = base > piece.base;
        bool right = end < piece_end;
        Node* rec = piece.link;
        if ((left || right) && rec == nullptr) {
            // The allocation is split or trimmed: its record remembers where it started and what is out.
            rec = batch.pop();
            Record* r = ::new (static_cast<void*>(rec->storage)) Record();
            r->base = piece.base;
            r->size = piece.size;
            r->outstanding = piece.size;
            r->cap = piece.cap;
            ++records_;
            set_link(lf, i, rec, piece.cap);
        }
        if (left && right) {
            // The tail becomes a piece of its own; the freed middle is the head's gap.
            Entry tail{end, piece_end - end, piece.gap, rec, piece.cap};
            add_entry_gap(Entry{end, piece_end - end, 0, rec, piece.cap}, batch);
            regap(piece.gap, piece_end, size, base);
            regap(0, 0, tail.gap, piece_end);
            lf.size[i] = base - piece.base;
            lf.gap[i] = size;
            tree_.insert_at(p, i + 1, tail, batch);
        } else if (left) {
            regap(piece.gap, piece_end, piece.gap + size, base);
            lf.size[i] = base - piece.base;
            lf.gap[i] = piece.gap + size;
            tree_.fix_up(p);
        } else {
            // The freed head (or the whole piece) joins the gap of the entry before it, which is in the same
            // region: every region starts with its own entry.
            Path q;
            tree_.copy_path(q, p);
            bool has_prev = tree_.prev_entry(q);
            AOS_ASSERT(has_prev);
            Leaf& ql = leaf_at(q);
            unsigned qi = index_at(q);
            std::uint64_t qs = ql.base[qi] + ql.size[qi];
            std::uint64_t joined = ql.gap[qi] + size + (right ? 0 : piece.gap);
            regap(ql.gap[qi], qs, joined, qs);
            ql.gap[qi] = joined;
            if (!tree_.same_leaf(q, p))
                tree_.fix_up(q);
            if (right) {
                lf.base[i] = end;
                lf.size[i] = piece_end - end;
                tree_.fix_up(p);
            } else {
                regap(piece.gap, piece_end, 0, 0);
                drop_entry(dead);
                tree_.erase_at(p, dead);
            }
        }

        if (rec != nullptr) {
            Record& r = record(rec);
            caps_.release(piece.cap, base - r.base, size);
            r.outstanding -= size;
            if (r.outstanding == 0) {
                caps_.destroy(piece.cap);
                r.~Record();
                --records_;
                dead.push(rec);
            }
        } else {
            caps_.release(piece.cap, 0, size);
            caps_.destroy(piece.cap);
        }
        free_bytes_ += size;
    }

    // The destructor's walk: tree nodes and the records of split allocations go back to the allocator.
    void release_tree() {
        tree_.release(
            [&](Leaf& lf) {
                for (unsigned i = 0; i < lf.count; ++i) {
                    Node* link = link_of(lf, i);
                    if (lf.size[i] == 0 || link == nullptr)
                        continue;
                    Record& r = record(link);
                    r.outstanding -= lf.size[i];
                    if (r.outstanding == 0) {
                        r.~Record();
                        nodes_.deallocate(link);
                    }
                }
            },
            [&](Node* n) { nodes_.deallocate(n); });
    }

    Caps& caps_;
    NodeAlloc& nodes_;
    mutable L lock_;
    RegionTree regions_;
    Tree tree_;                 // the entries: pieces and region starts
    SizeTree by_size_;          // BestFit only: free segments by (size, start)
    SizeRec* spares_ = nullptr; // BestFit only: the size records of entries without a gap
    BlockList open_blocks_;     // BestFit only: blocks of size records with a free slot
    BlockList full_blocks_;     // BestFit only: the full ones
    std::uint64_t total_ = 0;
    std::uint64_t free_bytes_ = 0;
    std::size_t free_count_ = 0;
    std::size_t records_ = 0;
    std::uint64_t cursor_ = 0; // NextFit: where the next search starts
};

// The capability policy of an embedder without capabilities (a hobby kernel managing its own RAM): the
// "capability" is the range itself, so retype cannot fail and nothing needs destroying.
struct RangeCap {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    bool operator==(const RangeCap&) const = default;
};
struct RangeCaps {
    using Cap = RangeCap;
    Result<Cap> retype(const Cap& original, std::uint64_t offset, std::uint64_t size) {
        return Cap{original.base + offset, size};
    }
    void release(const Cap&, std::uint64_t, std::uint64_t) {}
    void destroy(const Cap&) {}
};

static_assert(CapPolicy<RangeCaps>);
static_assert(NodeAllocator<Slab<RegionNode<RangeCap>, ArenaRefill>, RegionNode<RangeCap>>);
static_assert(sizeof(RegionNode<RangeCap>) == 512);

} // namespace aos::mm
