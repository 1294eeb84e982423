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

// The node layouts, all in one VaddrNode so that one slab feeds a space. Regions are leaf entries of a
// B+ tree keyed by base: a descent at 10^5 regions visits ~8 nodes of two cache lines, where the AVL tree
// it replaced visited ~20 nodes with a hard-to-predict branch at each.
inline constexpr std::size_t vaddr_node_bytes = 128;
inline constexpr std::size_t vaddr_fanout = 5;

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

// A region: where it is, its guard pages, how it is backed. The gap below it is kept in its leaf entry.
struct VaddrRegion {
    std::uint64_t base = 0; // includes the guard pages
    std::uint64_t size = 0;
    std::uint64_t guard = 0; // bytes of guard pages at the bottom
    std::uint64_t backed_bytes = 0;
    // The region's own backed ranges: a fault or a release searches only these, so its cost does not
    // depend on how many other regions are backed.
    core::AvlTree<VaddrBacked, &VaddrBacked::hook, BackedOrder> backed;
    Backing backing = Backing::Lazy;
    VaddrNode* self = nullptr;

    std::uint64_t end() const { return base + size; }
    std::uint64_t usable() const { return base + guard; }
};

// A leaf: per region (sorted by base) its base, the free gap below it (to the previous region or lo), and
// the region. A scan compares bases only; gaps are read by the fit search and the summaries.
struct VaddrLeaf {
    std::uint32_t count = 0;
    std::uint64_t base[vaddr_fanout] = {};
    std::uint64_t gap[vaddr_fanout] = {};
    VaddrNode* region[vaddr_fanout] = {};
};

// An inner node: per child, the lowest base in it, the largest gap in it, and the child.
struct VaddrInner {
    std::uint32_t count = 0;
    std::uint64_t key[vaddr_fanout] = {};
    std::uint64_t max_gap[vaddr_fanout] = {};
    VaddrNode* child[vaddr_fanout] = {};
};

} // namespace detail

// The one metadata node type: raw storage that holds a tree node, a region or a backed range. Slabs
// feeding a VaddrSpace hold these.
struct alignas(64) VaddrNode {
    alignas(64) std::byte storage[detail::vaddr_node_bytes];
};

static_assert(sizeof(detail::VaddrLeaf) <= detail::vaddr_node_bytes);
static_assert(sizeof(detail::VaddrInner) <= detail::vaddr_node_bytes);
static_assert(sizeof(detail::VaddrRegion) <= 64); // one line: a fault reads nothing else of it
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
    // with at least three children below the root.
    static constexpr int max_height = 36;
    // Nodes one call may need at most: a split at every level and a new root, a region, a backed range. In
    // practice one or two; a slab feeding the space keeps `nodes_per_call()` in reserve per caller.
    static constexpr std::size_t max_nodes_per_call = max_height + 3;

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

    // What one call may need now: a split at every level of the tree, a new root, a region, a range.
    std::size_t nodes_per_call() const {
        core::LockGuard guard_lock(lock_);
        return static_cast<std::size_t>(height_) + 3;
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

        std::uint64_t usable = 0;
        Result<void> done = with_nodes(
            backing == Backing::Eager ? 2 : 1, [&](Batch& batch, std::size_t& more) -> Result<void> {
                std::uint64_t start = 0;
                if (!find_gap(guard, size, align, start))
                    return error(Errc::no_memory);
                Path p;
                unsigned pos = insert_position(start, p);
                std::size_t need = 1 + split_nodes(p) + (backing == Backing::Eager ? 1 : 0);
                if (need > batch.count) {
                    more = need;
                    return ok();
                }
                Region& r = insert_region(p, pos, start, guard, size, backing, batch);
                if (backing == Backing::Eager)
                    insert_backed(r, r.usable(), size, batch);
                usable = r.usable();
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
        return with_nodes(2, [&](Batch& batch, std::size_t& more) -> Result<void> {
            Path p;
            bool below = locate(addr, p);
            if (Region* region = below ? &region_at(p) : nullptr; region != nullptr && addr < region->end()) {
                bool inside_lazy =
                    region->backing == Backing::Lazy && addr >= region->usable() && end <= region->end();
                if (!inside_lazy || overlaps_backed(*region, addr, end))
                    return error(Errc::overlap);
                insert_backed(*region, addr, size, batch);
                return ok();
            }
            Path q;
            copy_path(q, p);
            bool has_next = below ? next_entry(q) : first_entry(q);
            if (has_next && base_at(q) < end)
                return error(Errc::overlap);
            std::size_t need = 1 + split_nodes(p) + (backing == Backing::Eager ? 1 : 0);
            if (need > batch.count) {
                more = need;
                return ok();
            }
            Region& r = insert_region(p, below ? index_at(p) + 1 : 0, addr, 0, size, backing, batch);
            if (backing == Backing::Eager)
                insert_backed(r, addr, size, batch);
            return ok();
        });
    }

    // What to do about a fault at addr: the page to back, or why not.
    Result<std::uint64_t, FaultError> fault(std::uint64_t addr) const {
        if (addr < arch::page_size)
            return error(FaultError::null_page);
        core::LockGuard guard_lock(lock_);
        Region* region = addr >= lo_ && addr < hi_ ? containing(addr) : nullptr;
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
        return with_nodes(1, [&](Batch& batch, std::size_t&) -> Result<void> {
            Region* region = containing(addr);
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
        Path p;
        if (!locate(addr, p))
            return error(Errc::not_found);
        Region& region = region_at(p);
        if (addr >= region.end() || region.usable() != addr)
            return error(Errc::not_found);
        backed_bytes_ -= region.backed_bytes;
        backed_count_ -= region.backed.size();
        for (Backed* r = region.backed.first(); r != nullptr;) {
            Backed* next = BackedTree::next(*r);
            on_backed(r->base, r->size);
            must(region.backed.erase(*r));
            free_backed(*r);
            r = next;
        }
        reserved_bytes_ -= region.size;
        // The next region's gap now reaches down to the previous region's end.
        Path q;
        copy_path(q, p);
        if (next_entry(q)) {
            leaf_at(q).gap[index_at(q)] += region.size + leaf_at(p).gap[index_at(p)];
            fix_up(q, height_ - 1);
        }
        Node* self = region.self;
        region.~Region();
        nodes_.deallocate(self);
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
        Region* region = containing(addr);
        return region != nullptr ? region->backed.size() : 0;
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
            const Region& r = region_at(p);
            if (r.base != base_at(p) || r.base < prev_end || r.end() > hi_ || r.size == 0 ||
                r.guard >= r.size || leaf_at(p).gap[index_at(p)] != r.base - prev_end || r.self == nullptr ||
                !r.backed.check_invariants())
                return false;
            reserved += r.size;
            std::uint64_t r_bytes = 0;
            const Backed* prev_backed = nullptr;
            for (const Backed* b = r.backed.first(); b != nullptr; b = BackedTree::next(*b)) {
                if (b->base < r.usable() || b->end() > r.end() || b->size == 0 || b->self == nullptr)
                    return false;
                if (prev_backed != nullptr && prev_backed->end() >= b->base)
                    return false; // overlapping or not coalesced
                r_bytes += b->size;
                prev_backed = b;
            }
            if (r_bytes != r.backed_bytes)
                return false;
            ranges += r.backed.size();
            bytes += r_bytes;
            prev_end = r.end();
        }
        return reserved == reserved_bytes_ && ranges == backed_count_ && bytes == backed_bytes_;
    }

private:
    using Region = detail::VaddrRegion;
    using Backed = detail::VaddrBacked;
    using Leaf = detail::VaddrLeaf;
    using Inner = detail::VaddrInner;
    using BackedTree = core::AvlTree<Backed, &Backed::hook, detail::BackedOrder>;
    using Batch = mm::NodeBatch<Node, max_nodes_per_call>;
    static constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    static constexpr std::size_t fanout = detail::vaddr_fanout;
    // A leaf goes away only when empty: an erase then never reads a (cold) sibling leaf. Inner nodes keep
    // at least three children below the root, which bounds the height at O(log n) whatever the leaves hold.
    static constexpr std::uint32_t inner_min = 3;

    // A position in the tree: the node at each level from the root (0) down to the leaf, and the child or
    // entry index taken there.
    struct Path {
        Node* node[max_height];
        unsigned idx[max_height];
    };

    // Runs change(batch, more) under the lock with n nodes taken before it (taking one may refill a slab,
    // and that refill may call into this space's embedder). When change finds that it needs more nodes than
    // the batch holds, it sets `more` to that number and returns without changing anything; they are taken
    // and it runs again. The nodes it does not use go back.
    template <class F>
    Result<void> with_nodes(std::size_t n, F&& change) {
        Batch batch;
        Result<void> result = batch.take(nodes_, n);
        while (result) {
            std::size_t more = 0;
            {
                core::LockGuard guard_lock(lock_);
                result = change(batch, more);
            }
            if (!result || more == 0)
                break;
            result = batch.take(nodes_, more);
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

    // ---- Node storage.
    static Leaf& leaf(Node* n) { return *std::launder(reinterpret_cast<Leaf*>(n->storage)); }
    static Inner& inner(Node* n) { return *std::launder(reinterpret_cast<Inner*>(n->storage)); }
    static Region& region_of(Node* n) { return *std::launder(reinterpret_cast<Region*>(n->storage)); }
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
    // A node is two lines and a visit reads both (the keys, then the chosen child): fetching them together
    // makes the misses of a cold node one wait instead of two.
    static void prefetch(const Node* n) {
        for (std::size_t off = 0; off < sizeof(Node); off += 64)
            __builtin_prefetch(n->storage + off);
    }

    bool is_leaf(int level) const { return level == height_ - 1; }
    std::uint32_t count_of(Node* n, int level) const {
        return is_leaf(level) ? leaf(n).count : inner(n).count;
    }
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

    // ---- Positions.
    Leaf& leaf_at(const Path& p) const { return leaf(p.node[height_ - 1]); }
    unsigned index_at(const Path& p) const { return p.idx[height_ - 1]; }
    std::uint64_t base_at(const Path& p) const { return leaf_at(p).base[index_at(p)]; }
    Region& region_at(const Path& p) const { return region_of(leaf_at(p).region[index_at(p)]); }

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
            for (unsigned j = 1; j < fanout; ++j)
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
        for (unsigned j = 1; j < fanout; ++j)
            i += lf.base[j] <= addr ? 1 : 0;
        p.idx[height_ - 1] = i < lf.count ? i : lf.count - 1;
        return true;
    }
    // The leaf where a region at addr goes, and its index there.
    unsigned insert_position(std::uint64_t addr, Path& p) const {
        if (locate(addr, p))
            return index_at(p) + 1;
        return 0; // below every region: the front of the leftmost leaf (or an empty tree)
    }
    Region* containing(std::uint64_t addr) const {
        Path p;
        if (!locate(addr, p))
            return nullptr;
        Region& r = region_at(p);
        return addr < r.end() ? &r : nullptr;
    }

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

    static void leaf_insert(Leaf& lf, unsigned pos, std::uint64_t base, std::uint64_t gap, Node* r) {
        for (unsigned i = lf.count; i > pos; --i) {
            lf.base[i] = lf.base[i - 1];
            lf.gap[i] = lf.gap[i - 1];
            lf.region[i] = lf.region[i - 1];
        }
        lf.base[pos] = base;
        lf.gap[pos] = gap;
        lf.region[pos] = r;
        ++lf.count;
    }
    static void leaf_erase(Leaf& lf, unsigned pos) {
        for (unsigned i = pos; i + 1 < lf.count; ++i) {
            lf.base[i] = lf.base[i + 1];
            lf.gap[i] = lf.gap[i + 1];
            lf.region[i] = lf.region[i + 1];
        }
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
                leaf_insert(t, t.count, s.base[i], s.gap[i], s.region[i]);
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
            if (count_of(p.node[l], l) < fanout)
                return need;
            ++need;
        }
        return need + 1;
    }

    // Inserts an entry at index pos of p's leaf, splitting full nodes upward with nodes from the batch (as
    // many as split_nodes counted). p is stale afterwards.
    void insert_at(Path& p, unsigned pos, std::uint64_t base, std::uint64_t gap, Node* r, Batch& batch) {
        if (root_ == nullptr) {
            root_ = make_leaf(batch.pop());
            height_ = 1;
            p.node[0] = root_;
        }
        ++entries_;
        int l = height_ - 1;
        Leaf& lf = leaf(p.node[l]);
        if (lf.count < fanout) {
            leaf_insert(lf, pos, base, gap, r);
            fix_up(p, l);
            return;
        }
        Node* right = make_leaf(batch.pop());
        // Appending (regions filling the space from the bottom) keeps the old leaf full; otherwise the
        // halves are even.
        unsigned half = pos == fanout ? fanout : (fanout + 1) / 2;
        if (pos < half) {
            move_tail(p.node[l], right, half - 1, l);
            leaf_insert(lf, pos, base, gap, r);
        } else {
            move_tail(p.node[l], right, half, l);
            leaf_insert(leaf(right), pos - half, base, gap, r);
        }
        for (;;) {
            // p.node[l] has a new right sibling `right` to link in above it.
            if (l == 0) {
                Node* nr = make_inner(batch.pop());
                Inner& in = inner(nr);
                in.count = 2;
                in.child[0] = root_;
                in.child[1] = right;
                in.key[0] = first_key(root_, 0);
                in.max_gap[0] = max_gap_of(root_, 0);
                in.key[1] = first_key(right, 0);
                in.max_gap[1] = max_gap_of(right, 0);
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
            if (parent.count < fanout) {
                inner_insert(parent, s + 1, rk, rm, right);
                fix_up(p, l - 1);
                return;
            }
            Node* sibling = make_inner(batch.pop());
            // As for leaves: an append leaves the old node as full as the new one's minimum allows.
            unsigned ih = s + 1 == fanout ? fanout + 1 - inner_min : (fanout + 1) / 2;
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
    // the next region shrinks to what is left above the new one.
    Region& insert_region(Path& p, unsigned pos, std::uint64_t base, std::uint64_t guard, std::uint64_t size,
                          Backing backing, Batch& batch) {
        Node* n = batch.pop();
        Region& r = *::new (static_cast<void*>(n->storage)) Region();
        r.base = base;
        r.size = guard + size;
        r.guard = guard;
        r.backing = backing;
        r.self = n;
        std::uint64_t prev_end = lo_;
        if (root_ != nullptr) {
            // The next region follows the previous one (pos - 1 in p's leaf); with no previous region it is
            // the first (leaves are never empty).
            Path q;
            copy_path(q, p);
            bool more = true;
            if (pos > 0) {
                q.idx[height_ - 1] = pos - 1;
                prev_end = region_at(q).end();
                more = next_entry(q);
            } else {
                q.idx[height_ - 1] = 0;
            }
            if (more) {
                leaf_at(q).gap[index_at(q)] = base_at(q) - r.end();
                fix_up(q, height_ - 1);
            }
        }
        insert_at(p, pos, base, base - prev_end, n, batch);
        reserved_bytes_ += r.size;
        return r;
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
        if (guard > max - size)
            return false;
        if (root_ != nullptr && find_lowest(root_, 0, guard + size, guard, size, align, start))
            return true;
        Path p;
        std::uint64_t last_end = last_entry(p) ? region_at(p).end() : lo_;
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
    static Backed* backed_at(const Region& region, std::uint64_t addr) {
        Backed* b = region.backed.floor([&](const Backed& n) { return core::three_way(n.base, addr); });
        return b != nullptr && addr < b->end() ? b : nullptr;
    }
    // One descent: the backed range at or below addr, then its successor.
    static bool overlaps_backed(const Region& region, std::uint64_t addr, std::uint64_t end) {
        Backed* prev = region.backed.floor([&](const Backed& n) { return core::three_way(n.base, addr); });
        if (prev != nullptr && prev->end() > addr)
            return true;
        Backed* next = prev != nullptr ? BackedTree::next(*prev) : region.backed.first();
        return next != nullptr && next->base < end;
    }

    // Records [addr, addr + size) as backed in region, merging with its backed neighbours.
    void insert_backed(Region& region, std::uint64_t addr, std::uint64_t size, Batch& batch) {
        std::uint64_t end = addr + size;
        Backed* prev = region.backed.floor([&](const Backed& n) { return core::three_way(n.base, addr); });
        Backed* next = prev != nullptr ? BackedTree::next(*prev) : region.backed.first();
        bool join_prev = prev != nullptr && prev->end() == addr;
        bool join_next = next != nullptr && next->base == end;
        if (join_prev && join_next) {
            prev->size = next->end() - prev->base;
            must(region.backed.erase(*next));
            free_backed(*next);
            --backed_count_;
        } else if (join_prev) {
            prev->size = end - prev->base;
        } else if (join_next) {
            // Moving the base down to addr keeps the order: nothing lies between.
            next->base = addr;
            next->size += size;
        } else {
            Node* n = batch.pop();
            Backed& b = *::new (static_cast<void*>(n->storage)) Backed();
            b.base = addr;
            b.size = size;
            b.self = n;
            must(region.backed.insert(b));
            ++backed_count_;
        }
        region.backed_bytes += size;
        backed_bytes_ += size;
    }

    // ---- Whole-tree walks.
    void release_subtree(Node* n, int level) {
        if (is_leaf(level)) {
            Leaf& lf = leaf(n);
            for (unsigned i = 0; i < lf.count; ++i) {
                Region& r = region_of(lf.region[i]);
                while (Backed* b = r.backed.first()) {
                    must(r.backed.erase(*b));
                    free_backed(*b);
                }
                r.~Region();
                nodes_.deallocate(lf.region[i]);
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
        if (count == 0 || count > fanout || (level > 0 && !is_leaf(level) && count < inner_min))
            return false;
        if (is_leaf(level)) {
            const Leaf& lf = leaf(n);
            for (unsigned i = 1; i < count; ++i) {
                if (lf.base[i - 1] >= lf.base[i])
                    return false;
            }
            for (unsigned i = count; i < fanout; ++i) {
                if (lf.base[i] != max)
                    return false;
            }
            entries += count;
        } else {
            const Inner& in = inner(n);
            for (unsigned i = count; i < fanout; ++i) {
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
