// aos::vm::PageTable: a hardware page-table tree (AArch64 VMSAv8-64 by default) with 1 GiB / 2 MiB blocks,
// block splitting, table reclaim and batched TLB maintenance. The tables themselves are reached only
// through a Backend policy, the per-table bookkeeping (one small TableNode per live table) comes from a
// NodeAlloc policy; nothing is allocated behind the caller's back. Not synchronised: callers serialise the
// operations on one tree (the kernel under its lock).
//
//   using Backend = aos::vm::SpanTableBackend<aos::arch::aarch64::Granule4k, MyTlb>;
//   using Node = aos::vm::TableNode<Backend::Handle>;
//   aos::vm::PageTable<aos::arch::aarch64::Granule4k, Backend, aos::vm::NodePool<Node>> pt(backend, nodes);
//   AOS_TRY(pt.init());                                   // allocates the root table
//   AOS_TRY(pt.map(va, pa, 64 * MiB, {.kernel = aos::arch::aarch64::prot_rw}));   // 2 MiB blocks if aligned
//   AOS_TRY(pt.unmap(va + 4096, 4096));                   // splits one block, TLB invalidated
//   auto t = pt.translate(va);                            // pa, attrs, level of the leaf
#pragma once

#include <aos/arch/aarch64/descriptors.hpp>
#include <aos/core/avl_tree.hpp>
#include <aos/core/hooks.hpp>
#include <aos/core/result.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>

namespace aos::vm {

// What a TLB invalidation must cover: only leaf entries for the address, or the walk caches as well (needed
// when a table is unlinked).
enum class TlbScope : std::uint8_t { leaf, all_levels };

// A freshly created, zero-filled table.
template <class Handle>
struct NewTable {
    Handle handle;
    std::uint64_t pa;
};

// Backend: does the actual work on translation tables.
// - kernel: tables from a frame pool reached by phys->virt, descriptors stored directly, TLBI/DSB/ISB.
// - init (later): each table is a VNode capability, write/clear invoke it, the kernel does the TLBI.
// - hosted tests: tables in ordinary aligned memory, invalidations counted.
// Contract: create_table returns a zeroed table; write stores one descriptor single-copy atomically;
// publish orders all earlier table writes before later ones (DSB ISHST), invalidate removes TLB entries for
// one address, invalidate_all every entry this table may have cached (TLBI VMALLE1IS, or ASIDE1IS for a
// process), sync waits for all invalidations and makes the new tables take effect (DSB ISH; ISB).
template <class B>
concept PageTableBackend = requires(B& b, const B& cb, typename B::Handle h, unsigned i, std::uint64_t d) {
    typename B::Handle;
    { b.create_table() } -> std::same_as<Result<NewTable<typename B::Handle>>>;
    { cb.read(h, i) } -> std::same_as<std::uint64_t>;
    b.write(h, i, d);
    b.free_table(h);
    b.publish();
    b.invalidate(d, TlbScope::leaf);
    b.invalidate_all();
    b.sync();
};

// Optional Backend ability: one pointer of storage per table, found from the table's physical address in
// O(1). With it the tree finds a table's record without searching; without it, an O(log tables) search by
// physical address. record() returns null when the backend keeps no record for that address.
template <class B>
concept TableRecords = requires(B& b, const B& cb, std::uint64_t pa, void* p) {
    { cb.record(pa) } -> std::same_as<void*>;
    b.set_record(pa, p);
};

// Optional Backend ability: the handle of a table from its physical address, without the tree's record.
// Validation walks and translate then read the tables without touching the records (one cache miss per
// level instead of two dependent ones).
template <class B>
concept TableHandles = requires(const B& cb, std::uint64_t pa) {
    { cb.handle_at(pa) } -> std::same_as<typename B::Handle>;
};

// The bookkeeping of one live table: its handle, physical address and number of valid entries. Keyed by
// physical address in an intrusive tree, so a descriptor leads to its table's record in O(log tables).
template <class Handle>
struct TableNode {
    core::TreeHook<TableNode> hook;
    Handle handle{};
    std::uint64_t pa = 0;
    TableNode* next = nullptr; // on the operation's reserve or retire list
    std::uint16_t live = 0;
    std::uint8_t level = 0;
};

// NodeAlloc: hands out TableNode records (default-constructed) and takes them back.
// - kernel: a NodePool over a static array; init: its slab allocator; hosted tests: a NodePool that can be
//   told to fail.
template <class A, class Node>
concept NodeAllocator = requires(A& a, Node* n) {
    { a.allocate() } -> std::same_as<Node*>;
    a.deallocate(n);
};

// Arch: geometry and descriptor formats (aos::arch::aarch64::Granule4k). encode_leaf(pa, a, l) must equal
// encode_leaf(0, a, l) | pa for aligned pa, so the tree can precompute a template per level.
template <class A>
concept PageTableArch = requires(std::uint64_t d, unsigned level, const typename A::Attrs& attrs) {
    typename A::Attrs;
    { A::levels } -> std::convertible_to<unsigned>;
    { A::entries } -> std::convertible_to<unsigned>;
    { A::page_size } -> std::convertible_to<std::uint64_t>;
    { A::va_bits } -> std::convertible_to<unsigned>;
    { A::pa_bits } -> std::convertible_to<unsigned>;
    { A::entry_size(level) } -> std::same_as<std::uint64_t>;
    { A::index(d, level) } -> std::same_as<unsigned>;
    { A::block_allowed(level) } -> std::same_as<bool>;
    { A::is_valid(d) } -> std::same_as<bool>;
    { A::is_table(d, level) } -> std::same_as<bool>;
    { A::is_leaf(d, level) } -> std::same_as<bool>;
    { A::next_table(d) } -> std::same_as<std::uint64_t>;
    { A::encode_table(d) } -> std::same_as<std::uint64_t>;
    { A::check_attrs(attrs) } -> std::same_as<Result<void>>;
    { A::encode_leaf(d, attrs, level) } -> std::same_as<Result<std::uint64_t>>;
    A::decode_leaf(d, level).pa;
    A::decode_leaf(d, level).attrs;
};

enum class Blocks : std::uint8_t { allowed, forbidden };

template <PageTableArch Arch, PageTableBackend Backend, class NodeAlloc>
    requires NodeAllocator<NodeAlloc, TableNode<typename Backend::Handle>>
class PageTable {
public:
    using Handle = typename Backend::Handle;
    using Node = TableNode<Handle>;
    using Attrs = typename Arch::Attrs;
    using Descriptor = std::uint64_t;

    struct Translation {
        std::uint64_t pa;
        Attrs attrs;
        unsigned level; // of the leaf: 1 = 1 GiB block, 2 = 2 MiB block, 3 = page (4 KiB granule)
    };

    static constexpr std::uint64_t va_limit = std::uint64_t{1} << Arch::va_bits;
    static constexpr std::uint64_t pa_limit = std::uint64_t{1} << Arch::pa_bits;

    PageTable(Backend& backend, NodeAlloc& nodes) : backend_(backend), nodes_(nodes) {}
    PageTable(const PageTable&) = delete;
    PageTable& operator=(const PageTable&) = delete;
    // Frees every table. The caller must have stopped the hardware from walking it (switched TTBR and
    // invalidated the ASID) first.
    ~PageTable() {
        while (Node* n = tables_.first())
            destroy(n);
    }

    // Creates the empty root table; call once before anything else.
    Result<void> init() {
        if (root_ != nullptr)
            return error(Errc::already_exists);
        root_ = AOS_TRY(create(0));
        return ok();
    }

    std::uint64_t root_pa() const { return root().pa; }
    std::size_t table_count() const { return tables_.size(); }
    // Bytes of bookkeeping beyond the hardware tables themselves.
    std::size_t metadata_bytes() const { return sizeof(*this) + tables_.size() * sizeof(Node); }

    // Maps [va, va + size) to [pa, pa + size). Errors (nothing changed): zero_size, misaligned (va, pa or
    // size not page-aligned), overflow, out_of_range (beyond va_bits/pa_bits), the Arch's attribute errors,
    // overlap (any page of the range already mapped), no_memory (a table could not be created).
    Result<void> map(std::uint64_t va, std::uint64_t pa, std::uint64_t size, const Attrs& attrs,
                     Blocks blocks = Blocks::allowed) {
        AOS_TRY(check_range(va, size));
        if ((pa & (Arch::page_size - 1)) != 0)
            return error(Errc::misaligned);
        if (pa + size < pa)
            return error(Errc::overflow);
        if (pa + size > pa_limit)
            return error(Errc::out_of_range);
        if (size == Arch::page_size) {
            if (Fast f = map_page(va, pa, attrs); f != Fast::general)
                return fast_result(f);
        }
        return map_range(va, pa, size, attrs, blocks);
    }

    // Unmaps [va, va + size), splitting blocks that are only partly inside, and frees tables that become
    // empty. Errors (nothing changed): range errors as map, not_found (a page of the range is not mapped),
    // no_memory (a block split needs a table that cannot be created).
    Result<void> unmap(std::uint64_t va, std::uint64_t size) {
        AOS_TRY(check_range(va, size));
        if (size == Arch::page_size) {
            if (Fast f = unmap_page(va); f != Fast::general)
                return fast_result(f);
        }
        return unmap_range(va, size);
    }

    // Changes the attributes of every page of [va, va + size), splitting blocks only partly inside. Errors
    // as unmap, plus the Arch's attribute errors.
    Result<void> protect(std::uint64_t va, std::uint64_t size, const Attrs& attrs) {
        AOS_TRY(check_range(va, size));
        AOS_TRY(Arch::check_attrs(attrs));
        Templates t = AOS_TRY(templates(attrs));
        Reserve r;
        AOS_TRY(prepare(va, va + size, r));
        protect_level(root(), va, va + size, t, r);
        AOS_ASSERT(r.count == 0);
        finish();
        return ok();
    }

    // The physical address `va` maps to, its attributes and the leaf's level. Errors: out_of_range,
    // not_found.
    Result<Translation> translate(std::uint64_t va) const {
        if (va >= va_limit)
            return error(Errc::out_of_range);
        Handle h = root().handle;
        for (unsigned level = 0;; ++level) {
            Descriptor d = backend_.read(h, Arch::index(va, level));
            if (!Arch::is_valid(d))
                return error(Errc::not_found);
            if (Arch::is_leaf(d, level)) {
                auto leaf = Arch::decode_leaf(d, level);
                return Translation{leaf.pa + (va & (Arch::entry_size(level) - 1)), leaf.attrs, level};
            }
            h = child_handle(d, level + 1);
        }
    }

    // Every table is reachable exactly once from the root, at its level, with `live` equal to its valid
    // entries; no table but the root is empty; no table descriptor at the last level; leaves are aligned.
    [[nodiscard]] bool check_invariants() const {
        if (root_ == nullptr)
            return tables_.empty();
        if (!tables_.check_invariants() || root_->level != 0)
            return false;
        std::size_t seen = 0;
        if (!check_table(*root_, 0, seen))
            return false;
        return seen == tables_.size();
    }

private:
    struct PaOrder {
        static bool less(const Node& a, const Node& b) { return a.pa < b.pa; }
    };
    using Tree = core::AvlTree<Node, &Node::hook, PaOrder>;

    // Leaf descriptors without their output address, one per level.
    struct Templates {
        Descriptor leaf[Arch::levels]{};
    };

    // TLB invalidations collected during one operation and issued at its end; past `capacity` addresses one
    // invalidate_all is cheaper than many single ones (as Zircon's consistency manager does).
    struct Pending {
        static constexpr unsigned capacity = 32;
        std::uint64_t va[capacity]{};
        TlbScope scope[capacity]{};
        unsigned count = 0;
        bool all = false;
        unsigned room() const { return all ? 0 : capacity - count; }
    };

    void queue_invalidate(std::uint64_t va, TlbScope scope) {
        if (pending_.all)
            return;
        if (pending_.count == Pending::capacity) {
            pending_.all = true;
            return;
        }
        pending_.va[pending_.count] = va;
        pending_.scope[pending_.count] = scope;
        ++pending_.count;
    }

    // The general paths, out of line so that the single-page paths stay short.
    [[gnu::noinline]] Result<void> map_range(std::uint64_t va, std::uint64_t pa, std::uint64_t size,
                                             const Attrs& attrs, Blocks blocks) {
        AOS_TRY(Arch::check_attrs(attrs));
        AOS_TRY(check_free(root().handle, 0, va, va + size));
        Templates t = AOS_TRY(templates(attrs));
        Result<void> r = map_level(root(), va, va + size, pa, t, blocks);
        if (!r) {
            // Everything mapped in the range is ours (it was free): take it back, tables included.
            unmap_level(root(), va, va + size, nullptr);
        }
        finish();
        return r;
    }

    [[gnu::noinline]] Result<void> unmap_range(std::uint64_t va, std::uint64_t size) {
        Reserve r;
        AOS_TRY(prepare(va, va + size, r));
        unmap_level(root(), va, va + size, &r);
        AOS_ASSERT(r.count == 0);
        finish();
        return ok();
    }

    // The outcome of a single-page fast path: done, failed (nothing changed), or left to the general path.
    enum class Fast : std::uint8_t { done, overlap, not_found, general };

    static Result<void> fast_result(Fast f) {
        if (f == Fast::overlap)
            return error(Errc::overlap);
        if (f == Fast::not_found)
            return error(Errc::not_found);
        return ok();
    }

    // Walks to the last-level table holding `va` for a single-page operation: one descriptor read per level,
    // straight from the tables, and the record of the last table only. Returns Fast::done with `t` and `h`
    // set, Fast::not_found at an invalid upper entry, or Fast::general at a block (the caller decides).
    [[gnu::always_inline]] Fast walk_to_last(std::uint64_t va, Node*& t, Handle& h) const {
        constexpr unsigned last = Arch::levels - 1;
        h = root().handle;
        if constexpr (last == 0) {
            t = &root();
            return Fast::done;
        }
        for (unsigned level = 0; level < last; ++level) {
            Descriptor d = backend_.read(h, Arch::index(va, level));
            if (!Arch::is_valid(d))
                return Fast::not_found;
            if (Arch::is_leaf(d, level))
                return Fast::general;
            if (level + 1 < last) {
                if constexpr (TableHandles<Backend>)
                    h = backend_.handle_at(Arch::next_table(d));
                else
                    h = child(d, level + 1)->handle;
                continue;
            }
            t = child(d, last);
            if constexpr (TableHandles<Backend>)
                h = backend_.handle_at(Arch::next_table(d)); // does not wait for the record
            else
                h = t->handle;
        }
        return Fast::done;
    }

    // map of one page into an existing last-level table, without the batch bookkeeping of the general path.
    // Fast::general (nothing changed) when a table must be created or the attributes are rejected.
    [[gnu::always_inline]] Fast map_page(std::uint64_t va, std::uint64_t pa, const Attrs& attrs) {
        constexpr unsigned last = Arch::levels - 1;
        Descriptor leaf = 0;
        if constexpr (std::equality_comparable<Attrs>) {
            if (page_leaf_ != 0 && attrs == page_attrs_) {
                leaf = page_leaf_ | pa;
            } else {
                Result<Descriptor> l = Arch::encode_leaf(0, attrs, last);
                if (!l)
                    return Fast::general; // the general path reports the attribute error
                page_attrs_ = attrs;
                page_leaf_ = *l;
                leaf = *l | pa;
            }
        } else {
            Result<Descriptor> l = Arch::encode_leaf(pa, attrs, last);
            if (!l)
                return Fast::general;
            leaf = *l;
        }
        Node* t = nullptr;
        Handle h{};
        if (Fast f = walk_to_last(va, t, h); f != Fast::done)
            return f == Fast::not_found ? Fast::general : Fast::overlap;
        unsigned idx = Arch::index(va, last);
        if (Arch::is_valid(backend_.read(h, idx)))
            return Fast::overlap;
        backend_.write(h, idx, leaf);
        ++t->live;
        backend_.sync();
        return Fast::done;
    }

    // unmap of one page that leaves its last-level table non-empty. Fast::general (nothing changed) when
    // the page is inside a block (a split) or its table would become empty (reclaim).
    [[gnu::always_inline]] Fast unmap_page(std::uint64_t va) {
        constexpr unsigned last = Arch::levels - 1;
        Node* t = nullptr;
        Handle h{};
        if (Fast f = walk_to_last(va, t, h); f != Fast::done)
            return f;
        unsigned idx = Arch::index(va, last);
        if (!Arch::is_valid(backend_.read(h, idx)))
            return Fast::not_found;
        if (t->live <= 1)
            return Fast::general;
        backend_.write(h, idx, 0);
        --t->live;
        backend_.invalidate(va, TlbScope::leaf);
        backend_.sync();
        return Fast::done;
    }

    // Tables created before a split so that the commit cannot fail. A split unlinks at most one table per
    // level at each end of the range.
    struct Reserve {
        static constexpr unsigned capacity = 2 * Arch::levels;
        Node* nodes[capacity]{};
        unsigned count = 0;
    };

    Node& root() const {
        AOS_ASSERT(root_ != nullptr);
        return *root_;
    }

    Result<void> check_range(std::uint64_t va, std::uint64_t size) const {
        if (size == 0)
            return error(Errc::zero_size);
        if (((va | size) & (Arch::page_size - 1)) != 0)
            return error(Errc::misaligned);
        if (va + size < va)
            return error(Errc::overflow);
        if (va + size > va_limit)
            return error(Errc::out_of_range);
        return ok();
    }

    static Result<Templates> templates(const Attrs& attrs) {
        Templates t;
        for (unsigned level = 0; level < Arch::levels; ++level) {
            if (level == Arch::levels - 1 || Arch::block_allowed(level))
                t.leaf[level] = AOS_TRY(Arch::encode_leaf(0, attrs, level));
        }
        return t;
    }

    Result<Node*> create(unsigned level) {
        Node* n = nodes_.allocate();
        if (n == nullptr)
            return error(Errc::no_memory);
        Result<NewTable<Handle>> t = backend_.create_table();
        if (!t) {
            nodes_.deallocate(n);
            return error(t.error());
        }
        n->handle = t->handle;
        n->pa = t->pa;
        n->live = 0;
        n->level = static_cast<std::uint8_t>(level);
        n->next = nullptr;
        if (!tables_.insert(*n)) [[unlikely]]
            core::panic("page table backend returned a table that is already in use");
        if constexpr (TableRecords<Backend>)
            backend_.set_record(n->pa, n);
        return n;
    }

    void forget(Node* n) {
        (void)tables_.erase(*n);
        if constexpr (TableRecords<Backend>)
            backend_.set_record(n->pa, nullptr);
    }

    void destroy(Node* n) {
        forget(n);
        backend_.free_table(n->handle);
        nodes_.deallocate(n);
    }

    // The record of the table a valid table descriptor points to; the last hit of each level is cached, as
    // consecutive operations mostly stay in the same tables.
    Node* child(Descriptor d, unsigned level) const {
        std::uint64_t pa = Arch::next_table(d);
        if constexpr (TableRecords<Backend>) {
            if (void* r = backend_.record(pa)) [[likely]]
                return static_cast<Node*>(r);
        }
        if (cache_[level] != nullptr && cache_[level]->pa == pa)
            return cache_[level];
        Node* n = tables_.find([pa](const Node& x) { return core::three_way(x.pa, pa); });
        if (n == nullptr || n->level != level) [[unlikely]]
            core::panic("page table descriptor points to no table of this tree");
        cache_[level] = n;
        return n;
    }

    // The handle of the table a table descriptor points to; its record is only prefetched, for the commit.
    Handle child_handle(Descriptor d, unsigned level) const {
        if constexpr (TableHandles<Backend>) {
            std::uint64_t pa = Arch::next_table(d);
            if constexpr (TableRecords<Backend>)
                __builtin_prefetch(backend_.record(pa));
            return backend_.handle_at(pa);
        } else {
            return child(d, level)->handle;
        }
    }

    static std::uint64_t entry_base(std::uint64_t va, unsigned level) {
        return va & ~(Arch::entry_size(level) - 1);
    }
    static std::uint64_t entry_end(std::uint64_t va, std::uint64_t end, unsigned level) {
        std::uint64_t e = entry_base(va, level) + Arch::entry_size(level);
        return e < end ? e : end;
    }

    // The entries of one level that [va, end) touches, each with the part of the range inside it.
    struct EntrySpan {
        unsigned idx;
        std::uint64_t va, next, base; // the part [va, next) of the entry starting at base
        bool whole;                   // the range covers the entire entry
    };
    class EntrySpans {
    public:
        EntrySpans(unsigned level, std::uint64_t va, std::uint64_t end) : level_(level), va_(va), end_(end) {}
        struct Iterator {
            const EntrySpans* spans;
            std::uint64_t va;
            EntrySpan operator*() const {
                unsigned level = spans->level_;
                std::uint64_t next = entry_end(va, spans->end_, level), base = entry_base(va, level);
                return {Arch::index(va, level), va, next, base,
                        va == base && next == base + Arch::entry_size(level)};
            }
            Iterator& operator++() {
                va = entry_end(va, spans->end_, spans->level_);
                return *this;
            }
            bool operator!=(const Iterator& o) const { return va < o.va; }
        };
        Iterator begin() const { return {this, va_}; }
        Iterator end() const { return {this, end_}; }

    private:
        unsigned level_;
        std::uint64_t va_, end_;
    };

    // Validation for map: every entry in [va, end) is invalid, directly or further down.
    Result<void> check_free(Handle h, unsigned level, std::uint64_t va, std::uint64_t end) const {
        for (EntrySpan e : EntrySpans(level, va, end)) {
            Descriptor d = backend_.read(h, e.idx);
            if (!Arch::is_valid(d))
                continue;
            if (Arch::is_leaf(d, level))
                return error(Errc::overlap);
            AOS_TRY(check_free(child_handle(d, level + 1), level + 1, e.va, e.next));
        }
        return ok();
    }

    // Validation for unmap/protect: every page of [va, end) is mapped; counts the tables block splits need.
    Result<void> check_mapped(Handle h, unsigned level, std::uint64_t va, std::uint64_t end,
                              unsigned& splits) const {
        for (EntrySpan e : EntrySpans(level, va, end)) {
            Descriptor d = backend_.read(h, e.idx);
            if (!Arch::is_valid(d))
                return error(Errc::not_found);
            if (Arch::is_leaf(d, level)) {
                splits += split_cost(level, e.base, e.va, e.next);
                continue;
            }
            if (e.whole && level + 1 == Arch::levels - 1 && child(d, level + 1)->live == Arch::entries)
                continue; // a full last-level table: every page mapped
            AOS_TRY(check_mapped(child_handle(d, level + 1), level + 1, e.va, e.next, splits));
        }
        return ok();
    }

    // Tables needed to cut [lo, hi) out of the leaf at `level` that starts at `base`.
    static unsigned split_cost(unsigned level, std::uint64_t base, std::uint64_t lo, std::uint64_t hi) {
        if (lo == base && hi == base + Arch::entry_size(level))
            return 0;
        unsigned n = 1;
        if (level + 1 == Arch::levels - 1)
            return n;
        std::uint64_t sub = Arch::entry_size(level + 1);
        std::uint64_t first = lo & ~(sub - 1);
        std::uint64_t last = (hi - 1) & ~(sub - 1);
        n += split_cost(level + 1, first, lo, hi < first + sub ? hi : first + sub);
        if (last != first)
            n += split_cost(level + 1, last, last, hi);
        return n;
    }

    // Validates [va, end) for unmap/protect and creates the tables the splits need, so the commit cannot
    // fail.
    Result<void> prepare(std::uint64_t va, std::uint64_t end, Reserve& r) {
        unsigned splits = 0;
        AOS_TRY(check_mapped(root().handle, 0, va, end, splits));
        AOS_ASSERT(splits <= Reserve::capacity);
        while (r.count < splits) {
            Result<Node*> n = create(0);
            if (!n) {
                while (r.count > 0)
                    destroy(r.nodes[--r.count]);
                return error(n.error());
            }
            r.nodes[r.count++] = *n;
        }
        return ok();
    }

    bool leaf_fits(unsigned level, std::uint64_t va, std::uint64_t next, std::uint64_t pa,
                   Blocks blocks) const {
        std::uint64_t size = Arch::entry_size(level);
        if (level != Arch::levels - 1 && (blocks == Blocks::forbidden || !Arch::block_allowed(level)))
            return false;
        return next - va == size && ((va | pa) & (size - 1)) == 0;
    }

    Result<void> map_level(Node& t, std::uint64_t va, std::uint64_t end, std::uint64_t pa,
                           const Templates& tpl, Blocks blocks) {
        unsigned level = t.level;
        for (EntrySpan e : EntrySpans(level, va, end)) {
            Descriptor d = backend_.read(t.handle, e.idx);
            std::uint64_t epa = pa + (e.va - va);
            if (!Arch::is_valid(d) && leaf_fits(level, e.va, e.next, epa, blocks)) {
                backend_.write(t.handle, e.idx, tpl.leaf[level] | epa);
                ++t.live;
                continue;
            }
            Node* c = nullptr;
            if (Arch::is_valid(d)) {
                c = child(d, level + 1);
            } else {
                c = AOS_TRY(create(level + 1));
                backend_.publish(); // the zeroed table is visible before the descriptor that links it
                backend_.write(t.handle, e.idx, Arch::encode_table(c->pa));
                ++t.live;
            }
            AOS_TRY(map_level(*c, e.va, e.next, epa, tpl, blocks));
        }
        return ok();
    }

    // Cannot fail: splits take their tables from `r` (null only when rolling back a map, which never splits).
    void unmap_level(Node& t, std::uint64_t va, std::uint64_t end, Reserve* r) {
        unsigned level = t.level;
        for (EntrySpan e : EntrySpans(level, va, end)) {
            Descriptor d = backend_.read(t.handle, e.idx);
            if (!Arch::is_valid(d))
                continue;
            Node* c = nullptr;
            if (Arch::is_leaf(d, level)) {
                if (e.whole) {
                    backend_.write(t.handle, e.idx, 0);
                    --t.live;
                    queue_invalidate(e.base, TlbScope::leaf);
                    continue;
                }
                AOS_ASSERT(r != nullptr);
                c = split(t, e.idx, d, e.base, *r);
            } else {
                c = child(d, level + 1);
                if (e.whole && c->live > pending_.room()) {
                    // The whole subtree goes and the TLB will be flushed entirely anyway: unlink it without
                    // clearing its entries one by one.
                    pending_.all = true;
                    backend_.write(t.handle, e.idx, 0);
                    --t.live;
                    retire_subtree(c);
                    continue;
                }
            }
            unmap_level(*c, e.va, e.next, r);
            if (c->live == 0) {
                backend_.write(t.handle, e.idx, 0);
                --t.live;
                queue_invalidate(e.base, TlbScope::all_levels);
                retire(c);
            }
        }
    }

    void protect_level(Node& t, std::uint64_t va, std::uint64_t end, const Templates& tpl, Reserve& r) {
        unsigned level = t.level;
        for (EntrySpan e : EntrySpans(level, va, end)) {
            Descriptor d = backend_.read(t.handle, e.idx);
            if (!Arch::is_leaf(d, level))
                protect_level(*child(d, level + 1), e.va, e.next, tpl, r);
            else if (e.whole)
                replace_leaf(t, e.idx, d, tpl.leaf[level] | Arch::decode_leaf(d, level).pa, e.base);
            else
                protect_level(*split(t, e.idx, d, e.base, r), e.va, e.next, tpl, r);
        }
    }

    // Rewrites a live leaf. A change of memory type, shareability or ASID tagging needs break-before-make;
    // a change of permissions alone may be written over the old entry (Arm ARM D8.16.1).
    void replace_leaf(Node& t, unsigned idx, Descriptor old, Descriptor now, std::uint64_t base) {
        if (old == now)
            return;
        unsigned level = t.level;
        auto a = Arch::decode_leaf(old, level).attrs;
        auto b = Arch::decode_leaf(now, level).attrs;
        if (a.memory != b.memory || a.share != b.share || a.global != b.global) {
            backend_.write(t.handle, idx, 0);
            backend_.invalidate(base, TlbScope::leaf);
            backend_.sync();
        }
        backend_.write(t.handle, idx, now);
        queue_invalidate(base, TlbScope::leaf);
    }

    // Replaces the block `d` at t[idx] by a table of next-level leaves with the same attributes, using
    // break-before-make (the block's range is briefly unmapped).
    Node* split(Node& t, unsigned idx, Descriptor d, std::uint64_t base, Reserve& r) {
        AOS_ASSERT(r.count > 0);
        Node* c = r.nodes[--r.count];
        unsigned level = t.level + 1;
        c->level = static_cast<std::uint8_t>(level);
        auto leaf = Arch::decode_leaf(d, t.level);
        Descriptor tpl = Arch::encode_leaf(0, leaf.attrs, level).value();
        std::uint64_t step = Arch::entry_size(level);
        for (unsigned i = 0; i < Arch::entries; ++i)
            backend_.write(c->handle, i, tpl | (leaf.pa + i * step));
        c->live = static_cast<std::uint16_t>(Arch::entries);
        backend_.write(t.handle, idx, 0);
        backend_.invalidate(base, TlbScope::leaf);
        backend_.sync();
        backend_.publish();
        backend_.write(t.handle, idx, Arch::encode_table(c->pa));
        return c;
    }

    // Unlinked tables are freed only after the invalidations that follow are complete (finish), since the
    // walker may still hold them in its caches until then.
    void retire(Node* n) {
        forget(n);
        for (Node*& c : cache_) {
            if (c == n)
                c = nullptr;
        }
        n->next = retired_;
        retired_ = n;
    }

    void retire_subtree(Node* n) {
        unsigned level = n->level;
        if (level + 1 < Arch::levels) {
            for (unsigned i = 0; i < Arch::entries; ++i) {
                Descriptor d = backend_.read(n->handle, i);
                if (Arch::is_table(d, level))
                    retire_subtree(child(d, level + 1));
            }
        }
        retire(n);
    }

    void finish() {
        if (pending_.all) {
            backend_.invalidate_all();
        } else {
            for (unsigned i = 0; i < pending_.count; ++i)
                backend_.invalidate(pending_.va[i], pending_.scope[i]);
        }
        pending_ = Pending{};
        backend_.sync();
        while (Node* n = retired_) {
            retired_ = n->next;
            backend_.free_table(n->handle);
            nodes_.deallocate(n);
        }
    }

    bool check_table(const Node& t, unsigned level, std::size_t& seen) const {
        ++seen;
        if (t.level != level || !tables_.contains(t))
            return false;
        unsigned live = 0;
        for (unsigned i = 0; i < Arch::entries; ++i) {
            Descriptor d = backend_.read(t.handle, i);
            if (!Arch::is_valid(d))
                continue;
            ++live;
            if (Arch::is_leaf(d, level)) {
                if (level != Arch::levels - 1 && !Arch::block_allowed(level))
                    return false;
                if ((Arch::decode_leaf(d, level).pa & (Arch::entry_size(level) - 1)) != 0)
                    return false;
                continue;
            }
            if (!Arch::is_table(d, level))
                return false;
            std::uint64_t pa = Arch::next_table(d);
            const Node* c = tables_.find([pa](const Node& x) { return core::three_way(x.pa, pa); });
            if (c == nullptr || c->live == 0 || !check_table(*c, level + 1, seen))
                return false;
            if constexpr (TableRecords<Backend>) {
                void* r = backend_.record(pa);
                if (r != nullptr && r != c)
                    return false;
            }
        }
        return live == t.live;
    }

    Backend& backend_;
    NodeAlloc& nodes_;
    Tree tables_;
    Node* root_ = nullptr;
    Node* retired_ = nullptr;
    Pending pending_;
    mutable Node* cache_[Arch::levels]{};
    // The last-level leaf template of the attributes of the last single-page map (0: none yet).
    Attrs page_attrs_{};
    Descriptor page_leaf_ = 0;
};

// A fixed pool of T over caller-provided storage: the reference NodeAlloc (the kernel's and the tests').
template <class T>
class NodePool {
public:
    union Slot {
        Slot() : next(nullptr) {}
        // Trivial when T's is, so static arrays of slots need no registered destructor.
        ~Slot()
            requires std::is_trivially_destructible_v<T>
        = default;
        ~Slot() {}
        Slot* next;
        T object;
    };

    explicit NodePool(std::span<Slot> slots) {
        for (Slot& s : slots) {
            s.next = free_;
            free_ = &s;
        }
        capacity_ = slots.size();
    }
    NodePool(const NodePool&) = delete;
    NodePool& operator=(const NodePool&) = delete;

    T* allocate() {
        Slot* s = free_;
        if (s == nullptr)
            return nullptr;
        free_ = s->next;
        ++used_;
        return ::new (static_cast<void*>(&s->object)) T();
    }
    void deallocate(T* p) {
        p->~T();
        Slot* s = reinterpret_cast<Slot*>(p);
        s->next = free_;
        free_ = s;
        --used_;
    }
    std::size_t used() const { return used_; }
    std::size_t capacity() const { return capacity_; }

private:
    Slot* free_ = nullptr;
    std::size_t used_ = 0;
    std::size_t capacity_ = 0;
};

// TLB maintenance for SpanTableBackend.
// - kernel: TLBI VALE1IS/VAE1IS, DSB ISHST, DSB ISH + ISB; hosted tests: counters.
template <class T>
concept TlbPolicy = requires(T& t, std::uint64_t va) {
    t.invalidate(va, TlbScope::leaf);
    t.invalidate_all();
    t.publish();
    t.sync();
};

// One translation table in memory.
template <class Arch>
struct alignas(Arch::table_bytes) TableFrame {
    std::uint64_t entry[Arch::entries];
};

// The reference Backend: tables from a caller-provided array of frames whose physical address is the
// virtual one plus `phys_offset` (0 for an identity-mapped kernel; hosted tests use the pointer itself).
// With a `records` array as long as `frames` it offers TableRecords (O(1) record lookup, 8 bytes per frame).
template <class Arch, TlbPolicy Tlb>
class SpanTableBackend {
public:
    using Frame = TableFrame<Arch>;
    using Handle = Frame*;

    SpanTableBackend(std::span<Frame> frames, std::uint64_t phys_offset, Tlb& tlb,
                     std::span<void*> records = {})
        : frames_(frames), records_(records), phys_offset_(phys_offset),
          first_pa_(reinterpret_cast<std::uintptr_t>(frames.data()) + phys_offset),
          bytes_(frames.size() * sizeof(Frame)), tlb_(tlb) {
        AOS_ASSERT(records.empty() || records.size() == frames.size());
        for (Frame& f : frames)
            push(&f);
        for (void*& r : records_)
            r = nullptr;
    }
    SpanTableBackend(const SpanTableBackend&) = delete;
    SpanTableBackend& operator=(const SpanTableBackend&) = delete;

    Result<NewTable<Handle>> create_table() {
        Frame* f = free_;
        if (f == nullptr)
            return error(Errc::no_memory);
        free_ = reinterpret_cast<Frame*>(f->entry[0]);
        for (std::uint64_t& e : f->entry)
            e = 0;
        ++used_;
        return NewTable<Handle>{f, reinterpret_cast<std::uintptr_t>(f) + phys_offset_};
    }
    std::uint64_t read(Handle h, unsigned i) const { return __atomic_load_n(&h->entry[i], __ATOMIC_RELAXED); }
    // Single-copy atomic, so the walker never sees half a descriptor.
    void write(Handle h, unsigned i, std::uint64_t d) { __atomic_store_n(&h->entry[i], d, __ATOMIC_RELAXED); }
    void free_table(Handle h) {
        push(h);
        --used_;
    }
    void publish() { tlb_.publish(); }
    void invalidate(std::uint64_t va, TlbScope scope) { tlb_.invalidate(va, scope); }
    void invalidate_all() { tlb_.invalidate_all(); }
    void sync() { tlb_.sync(); }

    std::size_t used() const { return used_; }
    std::size_t capacity() const { return frames_.size(); }
    // For a software walker: the frame at a physical address, or null if it is not one of ours.
    const Frame* frame_at(std::uint64_t pa) const {
        std::size_t i = index_of(pa);
        return i < frames_.size() ? &frames_[i] : nullptr;
    }
    Handle handle_at(std::uint64_t pa) const {
        std::size_t i = index_of(pa);
        return i < frames_.size() ? &frames_[i] : nullptr;
    }
    void* record(std::uint64_t pa) const {
        std::size_t i = index_of(pa);
        return i < records_.size() ? records_[i] : nullptr;
    }
    void set_record(std::uint64_t pa, void* r) {
        std::size_t i = index_of(pa);
        if (i < records_.size())
            records_[i] = r;
    }

private:
    // The frame index of `pa`, or frames_.size() when `pa` is not the start of one of our frames.
    // One subtraction and one comparison on the walk's path: an address below the first frame wraps to a
    // large offset.
    std::size_t index_of(std::uint64_t pa) const {
        std::uint64_t off = pa - first_pa_;
        if (off >= bytes_ || off % sizeof(Frame) != 0) [[unlikely]]
            return frames_.size();
        return static_cast<std::size_t>(off / sizeof(Frame));
    }

    void push(Frame* f) {
        f->entry[0] = reinterpret_cast<std::uintptr_t>(free_);
        free_ = f;
    }

    std::span<Frame> frames_;
    std::span<void*> records_;
    Frame* free_ = nullptr;
    std::uint64_t phys_offset_;
    std::uint64_t first_pa_; // of frames_[0]
    std::uint64_t bytes_;    // of all frames
    Tlb& tlb_;
    std::size_t used_ = 0;
};

// A TlbPolicy that only counts: for hosted use, where no hardware walks the tables.
struct CountingTlb {
    std::uint64_t invalidations = 0;
    std::uint64_t table_invalidations = 0;
    std::uint64_t full_invalidations = 0;
    std::uint64_t publishes = 0;
    std::uint64_t syncs = 0;
    void invalidate(std::uint64_t, TlbScope scope) {
        ++invalidations;
        if (scope == TlbScope::all_levels)
            ++table_invalidations;
    }
    void invalidate_all() { ++full_invalidations; }
    void publish() { ++publishes; }
    void sync() { ++syncs; }
};

using DefaultArch = arch::aarch64::Granule4k;
static_assert(PageTableArch<DefaultArch>);
static_assert(TlbPolicy<CountingTlb>);
static_assert(PageTableBackend<SpanTableBackend<DefaultArch, CountingTlb>>);
static_assert(TableRecords<SpanTableBackend<DefaultArch, CountingTlb>>);
static_assert(TableHandles<SpanTableBackend<DefaultArch, CountingTlb>>);
static_assert(
    NodeAllocator<NodePool<TableNode<TableFrame<DefaultArch>*>>, TableNode<TableFrame<DefaultArch>*>>);
static_assert(sizeof(TableFrame<DefaultArch>) == DefaultArch::table_bytes);

} // namespace aos::vm
