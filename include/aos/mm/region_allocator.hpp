// aos::mm::RegionAllocator: the physical memory manager init runs over RAM capabilities. It splits the
// original regions it is given into allocations, each with a capability for exactly its range, takes back
// whole allocations or sub-ranges of one, and finds fits in O(log n) on an augmented AVL tree.
//
//   aos::mm::RegionAllocator<MyCaps, MySlab> mm(caps, slab);     // FirstFit, NullLock
//   AOS_TRY(mm.add(ram_cap, 0x4000'0000, 256 << 20));
//   auto a = AOS_TRY(mm.alloc(64 << 10, 64 << 10));              // a.base, a.size, a.cap
//   AOS_TRY(mm.free(a.base + 4096, 4096));                       // give back one page of it
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

// Fit policies, all O(log n) in the number of free segments when the alignment does not exceed a page
// (larger alignments also visit the big-enough segments that miss the alignment). Init picks one for its
// memory server (BestFit keeps large holes for large requests); hosted tests run all three against a model.
struct FirstFit {}; // lowest address: the classic behaviour
struct BestFit {};  // smallest segment that fits, lowest address among equals
struct NextFit {};  // lowest address at or after the end of the previous allocation, wrapping around

template <class F>
concept FitPolicy = std::same_as<F, FirstFit> || std::same_as<F, BestFit> || std::same_as<F, NextFit>;

// One metadata node. The same type serves as an original region, a free segment, an allocated piece and
// an allocation record, so a single slab feeds the allocator.
template <class Cap>
struct alignas(64) RegionNode {
    // What a tree descent reads comes first: one cache line per visited node (the alignment keeps it so).
    core::TreeHook<RegionNode> hook; // the regions tree, or the segments tree (free and allocated)
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    std::uint64_t max_size = 0; // segments tree: augmented, the largest free segment in the subtree

    core::TreeHook<RegionNode> size_hook; // BestFit: free segments keyed by (size, base)
    RegionNode* region = nullptr;         // free segment, piece: the original region it lies in
    RegionNode* record = nullptr;         // piece: the allocation it belongs to; null: a free segment
    std::uint64_t outstanding = 0;        // record: bytes of it still handed out
    Cap cap{};                            // region: the original capability; record: the derived one

    std::uint64_t end() const { return base + size; }
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

// Free segments and pieces share one tree (the neighbours of a freed range are its tree neighbours); the
// aggregate counts free segments only (a piece has record set).
template <class N>
struct Segments {
    static bool less(const N& a, const N& b) { return a.base < b.base; }
    static bool aggregate(N& n, const N* l, const N* r) {
        return core::update_max(n, n.record == nullptr ? n.size : std::uint64_t{0}, l, r, &N::max_size);
    }
};

template <class N>
struct BySize {
    static bool less(const N& a, const N& b) { return a.size != b.size ? a.size < b.size : a.base < b.base; }
};

constexpr bool is_pow2(std::uint64_t x) {
    return x != 0 && (x & (x - 1)) == 0;
}

} // namespace detail

template <class Caps, class NodeAlloc, class Fit = FirstFit, core::Lock L = core::NullLock>
    requires CapPolicy<Caps> && NodeAllocator<NodeAlloc, RegionNode<typename Caps::Cap>> && FitPolicy<Fit>
class RegionAllocator {
public:
    using Cap = typename Caps::Cap;
    using Node = RegionNode<Cap>;
    using Alloc = Allocation<Cap>;

    // Nodes one call may need at most: alloc (record, piece, split-off free segment), free (split-off piece,
    // new free segment), add (region, free segment). Slabs feeding the allocator keep at least this many
    // per concurrent caller in reserve.
    static constexpr std::size_t max_nodes_per_call = 3;

    RegionAllocator(Caps& caps, NodeAlloc& nodes) : caps_(caps), nodes_(nodes) {}
    RegionAllocator(const RegionAllocator&) = delete;
    RegionAllocator& operator=(const RegionAllocator&) = delete;

    // Returns every node to the node allocator. Capabilities are the embedder's: none is destroyed here.
    ~RegionAllocator() {
        by_size_.clear();
        while (Node* n = segs_.first()) {
            must(segs_.erase(*n));
            if (Node* rec = n->record) {
                rec->outstanding -= n->size;
                if (rec->outstanding == 0)
                    nodes_.deallocate(rec);
            }
            nodes_.deallocate(n);
        }
        while (Node* r = regions_.first()) {
            must(regions_.erase(*r));
            nodes_.deallocate(r);
        }
    }

    // Adds the original region [base, base + size) held by `cap`. Errors: zero_size, misaligned (base or
    // size not page-aligned), overflow (the range wraps), overlap (with a region already added), no_memory.
    Result<void> add(const Cap& cap, std::uint64_t base, std::uint64_t size) {
        AOS_TRY(check_range(base, size));
        NodeBatch<Node, 2> batch;
        AOS_TRY(batch.take(nodes_));
        Result<void> result = ok();
        {
            core::LockGuard guard(lock_);
            if (overlaps_region(base, base + size)) {
                result = error(Errc::overlap);
            } else {
                Node* region = batch.pop();
                region->base = base;
                region->size = size;
                region->cap = cap;
                must(regions_.insert(*region));
                insert_free(*batch.pop(), base, size, region);
                total_ += size;
                free_bytes_ += size;
            }
        }
        batch.give_back(nodes_);
        return result;
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
        if (!detail::is_pow2(align) || lo >= hi)
            return error(Errc::invalid_argument);
        if (size > u64_max - (arch::page_size - 1))
            return error(Errc::overflow);
        size = round_up(size, arch::page_size);
        if (align < arch::page_size)
            align = arch::page_size;
        bool whole = lo == 0 && hi == u64_max;

        NodeBatch<Node, max_nodes_per_call> batch;
        Result<Alloc> result = error(Errc::no_memory);
        // As in free: nodes are taken outside the lock, as many as the fit found needs (an exact fit needs
        // just the record), and the search is repeated after taking more. To search only once in the usual
        // case, the most a fit can need is taken up front; if that fails (take then keeps none), the loop
        // takes what the fit found needs.
        (void)batch.take(nodes_);
        for (;;) {
            std::size_t need = 0;
            {
                core::LockGuard guard(lock_);
                std::uint64_t start = 0;
                Node* seg =
                    whole ? find_by_policy(size, align, start) : find_in_range(size, align, lo, hi, start);
                if (seg == nullptr)
                    break;
                bool left = start > seg->base;
                bool right = start + size < seg->end();
                need = 1 + (left || right ? 1 : 0) + (left && right ? 1 : 0);
                if (need <= batch.count) {
                    Result<Cap> cap = caps_.retype(seg->region->cap, start - seg->region->base, size);
                    if (!cap) {
                        result = error(cap.error());
                    } else {
                        commit_alloc(*seg, start, size, *cap, batch);
                        result = Alloc{start, size, *cap};
                    }
                    break;
                }
            }
            if (Result<void> taken = batch.take(nodes_, need); !taken) {
                result = error(taken.error());
                break;
            }
        }
        batch.give_back(nodes_);
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

    // Metadata nodes held: regions, free segments, pieces and allocation records.
    std::size_t node_count() const {
        core::LockGuard guard(lock_);
        return regions_.size() + segs_.size() + records_;
    }

    RegionStats stats() const {
        core::LockGuard guard(lock_);
        Node* root = segs_.root();
        return RegionStats{total_, free_bytes_, total_ - free_bytes_, free_count_,
                           root != nullptr ? root->max_size : 0};
    }

    // Checks every tree, that free segments and pieces tile each region exactly, that free segments of one
    // region are coalesced, and the counters. O(n).
    [[nodiscard]] bool check_invariants() const {
        core::LockGuard guard(lock_);
        if (!regions_.check_invariants() || !segs_.check_invariants())
            return false;
        if constexpr (std::same_as<Fit, BestFit>) {
            if (!by_size_.check_invariants() || by_size_.size() != free_count_)
                return false;
        }
        std::uint64_t total = 0;
        std::uint64_t free_bytes = 0;
        std::size_t free_count = 0;
        const Node* s = segs_.first();
        const Node* prev_region = nullptr;
        for (const Node* r = regions_.first(); r != nullptr; r = RegionTree::next(*r)) {
            if (r->size == 0 || (prev_region != nullptr && prev_region->end() > r->base))
                return false;
            total += r->size;
            std::uint64_t pos = r->base;
            bool prev_free = false;
            for (; pos < r->end(); s = SegTree::next(*s)) {
                if (s == nullptr || s->base != pos || s->region != r || s->size == 0 ||
                    !arch::page_aligned(s->size))
                    return false; // a hole, an overlap or a stray segment
                bool is_free = s->record == nullptr;
                if (is_free) {
                    if (prev_free)
                        return false; // not coalesced
                    if constexpr (std::same_as<Fit, BestFit>) {
                        if (!by_size_.contains(*s))
                            return false;
                    }
                    free_bytes += s->size;
                    ++free_count;
                } else {
                    const Node* rec = s->record;
                    if (s->base < rec->base || s->end() > rec->end() || rec->outstanding < s->size ||
                        s->size_hook.linked())
                        return false;
                }
                prev_free = is_free;
                pos = s->end();
            }
            if (pos != r->end())
                return false;
            prev_region = r;
        }
        return s == nullptr && total == total_ && free_bytes == free_bytes_ && free_count == free_count_;
    }

private:
    // free, with the capability check when cap is given.
    Result<void> free_checked(const Cap* cap, std::uint64_t base, std::uint64_t size) {
        AOS_TRY(check_range(base, size));
        std::uint64_t end = base + size;
        NodeBatch<Node, 2> batch;
        Node* dead[3] = {};
        std::size_t ndead = 0;
        Result<void> result = ok();
        // Nodes are taken only as needed, outside the lock (taking one may refill a slab from this very
        // allocator, which changes the tree: hence the re-check). Freeing a whole piece needs none, so an
        // allocator whose slab ran dry can always take back whole allocations.
        for (;;) {
            std::size_t need = 0;
            {
                core::LockGuard guard(lock_);
                Result<Node*> piece = find_piece(base, end);
                if (!piece) {
                    result = error(piece.error());
                    break;
                }
                if constexpr (std::equality_comparable<Cap>) {
                    if (cap != nullptr && !((*piece)->record->cap == *cap)) {
                        result = error(Errc::permission_denied);
                        break;
                    }
                }
                Neighbours nb = free_neighbours(**piece, base, end);
                need = nodes_needed(**piece, base, end, nb);
                if (need <= batch.count) {
                    commit_free(**piece, base, end, nb, batch, dead, ndead);
                    break;
                }
            }
            if (Result<void> taken = batch.take(nodes_, need); !taken) {
                result = taken;
                break;
            }
        }
        batch.give_back(nodes_);
        for (std::size_t i = 0; i < ndead; ++i)
            nodes_.deallocate(dead[i]);
        return result;
    }

    using RegionTree = core::AvlTree<Node, &Node::hook, detail::ByBase<Node>>;
    using SegTree = core::AvlTree<Node, &Node::hook, detail::Segments<Node>>;
    using SizeTree = core::AvlTree<Node, &Node::size_hook, detail::BySize<Node>>;
    static constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

    // The free segments next to a range being freed that it coalesces with (same original region only: a
    // retype needs one source capability).
    struct Neighbours {
        Node* prev = nullptr;
        Node* next = nullptr;
    };

    static void must(Result<void> r) { AOS_ASSERT(r.has_value()); }
    static constexpr std::uint64_t round_up(std::uint64_t x, std::uint64_t a) {
        return (x + a - 1) & ~(a - 1);
    }
    static bool is_free(const Node& n) { return n.record == nullptr; }

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
        Node* below = regions_.floor([&](const Node& n) { return core::three_way(n.base, base); });
        if (below != nullptr && below->end() > base)
            return true;
        Node* above = regions_.lower_bound([&](const Node& n) { return core::three_way(n.base, base); });
        return above != nullptr && above->base < end;
    }

    // The aligned start of a `size` fit within seg clipped to [lo, hi), if there is one.
    static bool fit(const Node& seg, std::uint64_t size, std::uint64_t align, std::uint64_t lo,
                    std::uint64_t hi, std::uint64_t& start) {
        std::uint64_t b = seg.base > lo ? seg.base : lo;
        std::uint64_t e = seg.end() < hi ? seg.end() : hi;
        if (b > u64_max - (align - 1))
            return false;
        std::uint64_t s = round_up(b, align);
        if (s >= e || e - s < size)
            return false;
        start = s;
        return true;
    }

    // Lowest free segment with base in [lo_base, hi_base) that has a fit clipped to [lo, hi): descends only
    // into subtrees whose largest free segment is big enough, so O(log n) unless alignment rejects
    // candidates.
    static Node* find_lowest(Node* n, std::uint64_t lo_base, std::uint64_t hi_base, std::uint64_t size,
                             std::uint64_t align, std::uint64_t lo, std::uint64_t hi, std::uint64_t& start) {
        if (n == nullptr || n->max_size < size)
            return nullptr;
        if (n->base >= lo_base) {
            if (Node* r = find_lowest(SegTree::left(*n), lo_base, hi_base, size, align, lo, hi, start))
                return r;
        }
        if (n->base >= hi_base)
            return nullptr;
        if (n->base >= lo_base && is_free(*n) && fit(*n, size, align, lo, hi, start))
            return n;
        return find_lowest(SegTree::right(*n), lo_base, hi_base, size, align, lo, hi, start);
    }

    Node* find_by_policy(std::uint64_t size, std::uint64_t align, std::uint64_t& start) {
        if constexpr (std::same_as<Fit, FirstFit>) {
            return find_lowest(segs_.root(), 0, u64_max, size, align, 0, u64_max, start);
        } else if constexpr (std::same_as<Fit, NextFit>) {
            Node* n = find_lowest(segs_.root(), cursor_, u64_max, size, align, 0, u64_max, start);
            return n != nullptr ? n : find_lowest(segs_.root(), 0, cursor_, size, align, 0, u64_max, start);
        } else {
            Node* n = by_size_.lower_bound([&](const Node& x) { return core::three_way(x.size, size); });
            for (; n != nullptr; n = SizeTree::next(*n)) {
                if (fit(*n, size, align, 0, u64_max, start))
                    return n;
            }
            return nullptr;
        }
    }

    Node* find_in_range(std::uint64_t size, std::uint64_t align, std::uint64_t lo, std::uint64_t hi,
                        std::uint64_t& start) {
        // The segment containing lo starts below it; every other candidate starts in [lo, hi).
        Node* below = segs_.floor([&](const Node& n) { return core::three_way(n.base, lo); });
        if (below != nullptr && below->base < lo && is_free(*below) &&
            fit(*below, size, align, lo, hi, start))
            return below;
        return find_lowest(segs_.root(), lo, hi, size, align, lo, hi, start);
    }

    // The piece holding all of [base, end), or why there is none.
    Result<Node*> find_piece(std::uint64_t base, std::uint64_t end) const {
        Node* piece = segs_.floor([&](const Node& n) { return core::three_way(n.base, base); });
        if (piece == nullptr || is_free(*piece) || base >= piece->end())
            return error(Errc::not_allocated);
        if (end > piece->end()) {
            Node* next = SegTree::next(*piece);
            bool runs_on = next != nullptr && !is_free(*next) && next->base == piece->end();
            return error(runs_on ? Errc::invalid_argument : Errc::not_allocated);
        }
        return piece;
    }

    // A range freed from the start of piece joins the free segment before it, one freed up to its end the
    // free segment after it: both are its tree neighbours.
    static Neighbours free_neighbours(const Node& piece, std::uint64_t base, std::uint64_t end) {
        Neighbours nb;
        if (base == piece.base) {
            Node* p = SegTree::prev(piece);
            if (p != nullptr && is_free(*p) && p->region == piece.region && p->end() == base)
                nb.prev = p;
        }
        if (end == piece.end()) {
            Node* n = SegTree::next(piece);
            if (n != nullptr && is_free(*n) && n->region == piece.region && n->base == end)
                nb.next = n;
        }
        return nb;
    }

    // New nodes a free of [base, end) from piece needs: a whole piece turns into (or joins) free space in
    // place; a middle range needs the tail piece and a free segment; an edge range a free segment unless it
    // joins a neighbour.
    static std::size_t nodes_needed(const Node& piece, std::uint64_t base, std::uint64_t end, Neighbours nb) {
        bool left = base > piece.base;
        bool right = end < piece.end();
        if (left && right)
            return 2;
        if (left)
            return nb.next != nullptr ? 0 : 1;
        if (right)
            return nb.prev != nullptr ? 0 : 1;
        return 0;
    }

    void index_size(Node& n) {
        if constexpr (std::same_as<Fit, BestFit>)
            must(by_size_.insert(n));
    }
    void unindex_size(Node& n) {
        if constexpr (std::same_as<Fit, BestFit>)
            must(by_size_.erase(n));
    }
    void insert_free(Node& n, std::uint64_t base, std::uint64_t size, Node* region) {
        n.base = base;
        n.size = size;
        n.region = region;
        n.record = nullptr;
        must(segs_.insert(n));
        index_size(n);
        ++free_count_;
    }
    void erase_free(Node& n) {
        unindex_size(n);
        must(segs_.erase(n));
        --free_count_;
    }
    // Resizes a linked segment in place. Its base moves only within the gap to its neighbours, so its
    // position in the tree stays valid; the size index re-sorts a free one.
    void reshape(Node& n, std::uint64_t base, std::uint64_t size) {
        bool indexed = is_free(n);
        if (indexed)
            unindex_size(n);
        n.base = base;
        n.size = size;
        must(segs_.update(n));
        if (indexed)
            index_size(n);
    }
    void insert_piece(Node& n, std::uint64_t base, std::uint64_t size, Node* region, Node* rec) {
        n.base = base;
        n.size = size;
        n.region = region;
        n.record = rec;
        must(segs_.insert(n));
    }

    // Commit steps: every check has passed, nothing below can fail.
    void commit_alloc(Node& seg, std::uint64_t start, std::uint64_t size, const Cap& cap,
                      NodeBatch<Node, max_nodes_per_call>& batch) {
        Node* region = seg.region;
        Node* rec = batch.pop();
        rec->base = start;
        rec->size = size;
        rec->outstanding = size;
        rec->region = region;
        rec->cap = cap;
        ++records_;

        std::uint64_t seg_base = seg.base;
        std::uint64_t seg_end = seg.end();
        std::uint64_t end = start + size;
        bool left = start > seg_base;
        bool right = end < seg_end;
        if (!left && !right) {
            // An exact fit: the free segment becomes the piece.
            unindex_size(seg);
            seg.record = rec;
            must(segs_.update(seg));
            --free_count_;
        } else if (left) {
            reshape(seg, seg_base, start - seg_base);
            insert_piece(*batch.pop(), start, size, region, rec);
            if (right)
                insert_free(*batch.pop(), end, seg_end - end, region);
        } else {
            reshape(seg, end, seg_end - end);
            insert_piece(*batch.pop(), start, size, region, rec);
        }
        free_bytes_ -= size;
        cursor_ = end;
    }

    void commit_free(Node& piece, std::uint64_t base, std::uint64_t end, Neighbours nb,
                     NodeBatch<Node, 2>& batch, Node* (&dead)[3], std::size_t& ndead) {
        Node* region = piece.region;
        Node* rec = piece.record;
        std::uint64_t piece_base = piece.base;
        std::uint64_t piece_end = piece.end();
        std::uint64_t size = end - base;
        bool left = base > piece_base;
        bool right = end < piece_end;
        if (left && right) {
            reshape(piece, piece_base, base - piece_base);
            insert_piece(*batch.pop(), end, piece_end - end, region, rec);
            insert_free(*batch.pop(), base, size, region);
        } else if (left) {
            reshape(piece, piece_base, base - piece_base);
            if (nb.next != nullptr)
                reshape(*nb.next, base, nb.next->end() - base);
            else
                insert_free(*batch.pop(), base, size, region);
        } else if (right) {
            reshape(piece, end, piece_end - end);
            if (nb.prev != nullptr)
                reshape(*nb.prev, nb.prev->base, end - nb.prev->base);
            else
                insert_free(*batch.pop(), base, size, region);
        } else if (nb.prev != nullptr || nb.next != nullptr) {
            must(segs_.erase(piece));
            dead[ndead++] = &piece;
            if (nb.prev != nullptr && nb.next != nullptr) {
                std::uint64_t merged_end = nb.next->end();
                erase_free(*nb.next);
                dead[ndead++] = nb.next;
                reshape(*nb.prev, nb.prev->base, merged_end - nb.prev->base);
            } else if (nb.prev != nullptr) {
                reshape(*nb.prev, nb.prev->base, piece_end - nb.prev->base);
            } else {
                reshape(*nb.next, piece_base, nb.next->end() - piece_base);
            }
        } else {
            // A whole piece with no free neighbour turns into a free segment in place.
            piece.record = nullptr;
            must(segs_.update(piece));
            index_size(piece);
            ++free_count_;
        }

        rec->outstanding -= size;
        caps_.release(rec->cap, base - rec->base, size);
        if (rec->outstanding == 0) {
            caps_.destroy(rec->cap);
            dead[ndead++] = rec;
            --records_;
        }
        free_bytes_ += size;
    }

    Caps& caps_;
    NodeAlloc& nodes_;
    mutable L lock_;
    RegionTree regions_;
    SegTree segs_;     // free segments and allocated pieces, tiling every region
    SizeTree by_size_; // BestFit only: free segments by (size, base)
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

} // namespace aos::mm
