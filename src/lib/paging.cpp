// The paging state over VNode capabilities (paging.hpp).
#include "paging.hpp"

#include "caps.hpp"
#include "print.hpp"

#include <aos/arch/aarch64/mmu.hpp>
#include <aos/arch/aarch64/registers.hpp>
#include <aos/core/hooks.hpp>

namespace aos::user {

namespace {

constexpr std::uint64_t page = PagingArch::page_size;
constexpr unsigned last_level = PagingArch::levels - 1;
constexpr std::uint64_t l3_span = PagingArch::entry_size(last_level - 1); // what one L3 table maps: a block
constexpr std::uint64_t l2_span = PagingArch::entry_size(last_level - 2); // what one L2 table maps

// Slab sizes: a chunk holds more objects than its reserve, and the reserve covers the objects a nested
// refill can take (a map needs at most tables_per_piece tables, and two refills can nest while tables are
// being made).
constexpr mm::SlabConfig table_slab_config{.chunk_bytes = 64 * 1024, .low_water = 2 * tables_per_piece + 1};
constexpr mm::SlabConfig small_slab_config{.chunk_bytes = 16 * 1024, .low_water = 16};

constexpr abi::ObjType vnode_type(unsigned level) {
    return static_cast<abi::ObjType>(static_cast<unsigned>(abi::ObjType::vnode_l0) + level);
}

// Page attributes for capability rights, as the kernel writes them (the shadow keeps normal memory for a
// device frame too: only the kernel's entry says device).
PagingArch::Attrs attrs_for(std::uint8_t rights) {
    return arch::aarch64::user_page_attrs(abi::user_prot(rights | abi::right_read));
}

// The rights a leaf descriptor written by attrs_for gives EL0.
std::uint8_t rights_of(std::uint64_t d, unsigned level) {
    return abi::rights_of_prot(PagingArch::decode_leaf(d, level).attrs.user);
}

// The end of the piece of [at, end) inside one table entry of `span` (an L3 table's 2 MiB, an L2 table's
// 1 GiB): maps and runs never cross a table.
std::uint64_t piece_end(std::uint64_t at, std::uint64_t end, std::uint64_t span) {
    std::uint64_t span_end = (at | (span - 1)) + 1;
    return end < span_end ? end : span_end;
}

[[noreturn]] void broken(const char* what, Errc e) {
    sys::print("paging: {}: {}\n", what, e);
    aos_hook_panic("paging state: a capability invocation failed after every check passed", __FILE__,
                   __LINE__);
}

} // namespace

const char* to_string(PagingFault f) {
    switch (f) {
    case PagingFault::null_page:
        return "null pointer";
    case PagingFault::unreserved:
        return "outside any reservation";
    case PagingFault::guard_page:
        return "a guard page";
    case PagingFault::protection:
        return "access not allowed by the mapping";
    case PagingFault::no_memory:
        return "no memory left to back it";
    case PagingFault::mapping_gone:
        return "its mapping is gone (the frame capability was deleted)";
    }
    return "unknown";
}

// ---- VNodeBackend ----

Result<vm::NewTable<VNodeTable*>> VNodeBackend::create_table() {
    if (!root_given_) {
        root_given_ = true;
        AOS_TRY(by_pa_.insert(root_));
        return vm::NewTable<VNodeTable*>{&root_, root_.pa};
    }
    VNodeTable* t = tables_.allocate();
    if (t == nullptr)
        return error(Errc::no_memory);
    Result<std::uint64_t> offset = ram_.reserve(page);
    Result<SlotAllocator::Slot> vnode =
        offset ? slots_.alloc() : Result<SlotAllocator::Slot>(error(offset.error()));
    Result<SlotAllocator::Slot> link =
        vnode ? slots_.alloc() : Result<SlotAllocator::Slot>(error(vnode.error()));
    if (!link) {
        if (vnode)
            slots_.free(*vnode);
        if (offset)
            ram_.give_back(*offset, page);
        tables_.deallocate(t);
        return error(link.error());
    }
    t->ram_offset = *offset;
    t->pa = ram_base_ + *offset;
    t->vnode = *vnode;
    t->link = *link;
    t->cap = vnode->addr();
    if (!by_pa_.insert(*t))
        broken("a table's RAM is in use twice", Errc::already_exists);
    return vm::NewTable<VNodeTable*>{t, t->pa};
}

VNodeTable* VNodeBackend::table_at(std::uint64_t pa) const {
    return by_pa_.find([pa](const VNodeTable& t) { return core::three_way(t.pa, pa); });
}

void VNodeBackend::write(VNodeTable* h, unsigned i, std::uint64_t d) {
    std::uint64_t old = h->shadow[i];
    if (d == 0) {
        if (!PagingArch::is_valid(old))
            return;
        flush_pending(); // a run being written is mapped before any of it can be cleared
        h->shadow[i] = 0;
        if (PagingArch::is_table(old, h->level))
            unlink(old);
        else
            clear_leaf(*h, i);
        return;
    }
    if (PagingArch::is_valid(old)) {
        // Only new rights for the same page or block (PageTable::protect) are offered over VNodes.
        if (!PagingArch::is_leaf(old, h->level) || !PagingArch::is_leaf(d, h->level) ||
            PagingArch::decode_leaf(d, h->level).pa != PagingArch::decode_leaf(old, h->level).pa)
            broken("an entry rewritten in place with another page", Errc::unsupported);
        h->shadow[i] = d;
        queue_protect(*h, i, rights_of(d, h->level));
        return;
    }
    if (PagingArch::is_table(d, h->level)) {
        flush();
        link(*h, i, d);
        return;
    }
    // A page of an L3 table, or a block of an L2 (or L1) table: the next entry of the pending run.
    MappingRun* r = pending_;
    std::uint64_t pa = PagingArch::decode_leaf(d, h->level).pa;
    std::uint64_t span = PagingArch::entry_size(h->level);
    if (r == nullptr || pending_flushed_ || (r->count > 0 && (h != r->table || i != r->first + r->count)) ||
        pa != r->frame_pa + r->frame_offset + r->count * span)
        broken("leaf writes that do not form one run", Errc::invalid_state);
    if (r->count == 0) {
        r->table = h;
        r->first = static_cast<std::uint16_t>(i);
    }
    ++r->count;
    h->shadow[i] = d;
}

void VNodeBackend::link(VNodeTable& parent, unsigned i, std::uint64_t d) {
    VNodeTable* child = table_at(PagingArch::next_table(d));
    if (child == nullptr || child->linked || child->root)
        broken("a table descriptor for an unknown table", Errc::not_found);
    child->level = static_cast<std::uint8_t>(parent.level + 1);
    if (!child->made) {
        if (Result<void> r = ram_.retype_at(vnode_type(child->level), child->ram_offset, page, child->vnode);
            !r)
            broken("retype of a page table", r.error());
        child->made = true;
    }
    if (Result<void> r =
            sys::vnode_map(parent.cap, child->cap, i, 1, 0, 0, child->link.cnode, child->link.index);
        !r)
        broken("linking a page table", r.error());
    child->linked = true;
    parent.shadow[i] = d;
}

void VNodeBackend::unlink(std::uint64_t old) {
    VNodeTable* child = table_at(PagingArch::next_table(old));
    if (child == nullptr || !child->linked)
        broken("unlinking an unknown table", Errc::not_found);
    if (Result<void> r = sys::cap_delete(child->link.addr()); !r)
        broken("unlinking a page table", r.error());
    child->linked = false;
}

MappingRun* VNodeBackend::run_at(const VNodeTable& t, unsigned i) {
    MappingRun* r = t.runs;
    while (r != nullptr && !(i >= r->first && i < r->first + r->count))
        r = r->next;
    return r;
}

void VNodeBackend::clear_leaf(VNodeTable& t, unsigned i) {
    MappingRun* r = run_at(t, i);
    if (r == nullptr)
        broken("a leaf without a mapping capability", Errc::not_found);
    if (r->cleared++ == 0) {
        r->next_cleared = cleared_;
        cleared_ = r;
    }
}

void VNodeBackend::flush_pending() {
    MappingRun* r = pending_;
    if (r == nullptr || r->count == 0 || pending_flushed_)
        return;
    if (Result<void> m = sys::vnode_map(r->table->cap, r->frame_cap, r->first, r->count, r->frame_offset,
                                        r->rights, r->mapping.cnode, r->mapping.index);
        !m)
        broken("mapping a frame", m.error());
    r->next = r->table->runs;
    r->table->runs = r;
    ++live_runs_;
    pending_flushed_ = true;
}

// Entry i of t gets `rights`: it joins the pending change when it continues it in the same run.
void VNodeBackend::queue_protect(VNodeTable& t, unsigned i, std::uint8_t rights) {
    PendingProtect& p = protect_;
    if (p.run != nullptr && p.run->table == &t && i == p.first + p.count && i < p.run->first + p.run->count &&
        rights == p.rights) {
        ++p.count;
        return;
    }
    flush_protect();
    MappingRun* r = run_at(t, i);
    if (r == nullptr)
        broken("new rights for a leaf without a mapping capability", Errc::not_found);
    protect_ = {r, i, 1, rights};
}

void VNodeBackend::flush_protect() {
    PendingProtect& p = protect_;
    if (p.run == nullptr)
        return;
    if (Result<void> r =
            sys::mapping_protect(p.run->mapping.addr(), p.first - p.run->first, p.count, p.rights);
        !r)
        broken("new rights for mapped pages", r.error());
    p = {};
}

void VNodeBackend::flush() {
    flush_protect();
    flush_pending();
    while (MappingRun* r = cleared_) {
        cleared_ = r->next_cleared;
        if (r->cleared != r->count)
            broken("part of a mapping run unmapped (runs go whole)", Errc::unsupported);
        delete_run(r);
    }
}

MappingRun* VNodeBackend::end_run() {
    flush();
    MappingRun* r = pending_;
    pending_ = nullptr;
    pending_flushed_ = false;
    return r != nullptr && r->count > 0 ? r : nullptr;
}

void VNodeBackend::delete_run(MappingRun* r) {
    MappingRun** link = &r->table->runs;
    while (*link != r)
        link = &(*link)->next;
    *link = r->next;
    // not_found: the kernel removed the mapping already, because the caller deleted the frame's last
    // capability while it was mapped (the contract says not to; the mapping is gone either way).
    if (Result<void> d = sys::cap_delete(r->mapping.addr()); !d && d.error() != Errc::not_found)
        broken("unmapping a run", d.error());
    slots_.free(r->mapping);
    if (r->owns_frame) {
        if (Result<void> d = sys::cap_delete(r->frame.addr()); !d)
            broken("deleting a frame", d.error());
        slots_.free(r->frame);
        ram_.give_back(r->frame_ram_offset, r->frame_bytes);
    }
    --live_runs_;
    runs_.deallocate(r);
}

bool VNodeBackend::check_runs() const {
    std::size_t runs = 0;
    for (const VNodeTable* t = by_pa_.first(); t != nullptr; t = decltype(by_pa_)::next(*t)) {
        bool covered[PagingArch::entries] = {};
        for (const MappingRun* r = t->runs; r != nullptr; r = r->next) {
            if (r->table != t || r->count == 0 || r->first + r->count > PagingArch::entries)
                return false;
            for (unsigned i = r->first; i < r->first + r->count; ++i) {
                if (covered[i] || !PagingArch::is_leaf(t->shadow[i], t->level))
                    return false;
                covered[i] = true;
            }
            ++runs;
        }
        for (unsigned i = 0; i < PagingArch::entries; ++i) {
            if (PagingArch::is_leaf(t->shadow[i], t->level) && !covered[i])
                return false;
        }
    }
    return runs == live_runs_;
}

void VNodeBackend::free_table(VNodeTable* h) {
    if (h->root || detached_)
        return; // the process's L0 outlives its paging state; a detached state leaves everything mapped
    // A subtree unlinked whole still has its runs: they go first, so no mapping capability outlives its
    // table.
    while (MappingRun* r = h->runs)
        delete_run(r);
    if (h->linked) {
        if (Result<void> r = sys::cap_delete(h->link.addr()); !r)
            broken("unlinking a page table", r.error());
    }
    if (h->made) {
        // A subtree can be freed parent first: deleting this VNode makes the kernel delete the links of the
        // tables still in it, so they are no longer linked when their turn comes.
        if (h->level < last_level) {
            for (std::uint64_t d : h->shadow) {
                if (PagingArch::is_table(d, h->level)) {
                    if (VNodeTable* child = table_at(PagingArch::next_table(d)))
                        child->linked = false;
                }
            }
        }
        if (Result<void> r = sys::cap_delete(h->vnode.addr()); !r)
            broken("deleting a page table", r.error());
    }
    slots_.free(h->vnode);
    slots_.free(h->link);
    ram_.give_back(h->ram_offset, page);
    (void)by_pa_.erase(*h);
    tables_.deallocate(h);
}

// ---- PagingState ----

Result<std::span<std::byte>> PagingRefill::refill(std::size_t bytes) {
    return paging->refill(bytes);
}

PagingState::PagingState(abi::CapAddr l0, SlotAllocator& slots, RamSource& ram)
    : l0_(l0), slots_(slots), ram_(ram), table_slab_(refill_, table_slab_config),
      run_slab_(refill_, small_slab_config), node_slab_(refill_, small_slab_config),
      vaddr_slab_(refill_, small_slab_config), backend_(root_, tables_, run_slab_, slots, ram),
      table_(backend_, nodes_), space_(vaddr_slab_, window_lo, metadata_lo) {}

Result<void> PagingState::init() {
    core::LockGuard guard(lock_);
    if (ready_)
        return ok();
    Result<sys::CapIdentity> l0 = sys::cap_identify(l0_);
    Result<sys::CapIdentity> ram = sys::cap_identify(ram_.capability());
    if (!l0 || l0->type != abi::ObjType::vnode_l0 || !ram || ram->type != abi::ObjType::ram)
        return error(Errc::not_found);
    root_.pa = l0->base;
    root_.cap = l0_;
    root_.root = true;
    root_.linked = true;
    root_.made = true;
    backend_.set_ram_base(ram->base);
    AOS_TRY(table_slab_.grow(table_boot_.bytes));
    AOS_TRY(run_slab_.grow(run_boot_.bytes));
    AOS_TRY(node_slab_.grow(node_boot_.bytes));
    AOS_TRY(vaddr_slab_.grow(vaddr_boot_.bytes));
    std::size_t mark = AOS_TRY(nodes_.fill(1));
    Result<void> root = table_.init();
    nodes_.drain(mark);
    AOS_TRY(root);
    ready_ = true;
    return ok();
}

Result<void> PagingState::check_frame(abi::CapAddr frame, std::uint64_t bytes, std::uint8_t rights,
                                      FrameInfo& info) const {
    sys::CapIdentity id = AOS_TRY(sys::cap_identify(frame));
    if (id.type != abi::ObjType::frame && id.type != abi::ObjType::dev_frame)
        return error(Errc::invalid_argument);
    // The kernel's own rule, checked before anything changes: a refusal there would be a broken state.
    if (Errc why = abi::map_rights_error(rights, id.type, id.rights); why != Errc{})
        return error(why);
    if (bytes == 0)
        return error(Errc::zero_size);
    if (bytes > id.size)
        return error(Errc::out_of_range);
    info = {id.base, id.rights, id.type == abi::ObjType::dev_frame};
    return ok();
}

// The table entry i of t (at `level`, above the leaves) links, or null (empty, or a block).
const VNodeTable* PagingState::child_table(const VNodeTable& t, unsigned i, unsigned level) const {
    std::uint64_t d = t.shadow[i];
    return PagingArch::is_table(d, level) ? backend_.table_at(PagingArch::next_table(d)) : nullptr;
}

std::size_t PagingState::missing_tables(std::uint64_t va) const {
    const VNodeTable* t = &root_;
    for (unsigned level = 0; level < last_level; ++level) {
        t = child_table(*t, PagingArch::index(va, level), level);
        if (t == nullptr)
            return last_level - level;
    }
    return 0;
}

// One piece lies inside one table (pages of an L3 table, or blocks of an L2 one), so it is one run.
Result<void> PagingState::map_piece(std::uint64_t va, std::uint64_t bytes, const MappingRun& source,
                                    vm::Blocks blocks) {
    MappingRun* run = AOS_TRY(run_slab_.allocate());
    Result<SlotAllocator::Slot> slot = slots_.alloc();
    if (!slot) {
        run_slab_.deallocate(run);
        return error(slot.error());
    }
    *run = source;
    run->mapping = *slot;
    std::size_t missing = missing_tables(va);
    Result<std::size_t> table_mark = tables_.fill(missing);
    Result<std::size_t> node_mark =
        table_mark ? nodes_.fill(missing) : Result<std::size_t>(error(table_mark.error()));
    Result<void> mapped = ok();
    if (!node_mark) {
        mapped = error(node_mark.error());
    } else {
        backend_.begin_run(run);
        mapped = table_.map(va, run->frame_pa + run->frame_offset, bytes, attrs_for(run->rights), blocks);
        if (backend_.end_run() == nullptr && mapped)
            broken("a map that wrote no entry", Errc::invalid_state);
        nodes_.drain(*node_mark);
    }
    if (table_mark)
        tables_.drain(*table_mark);
    if (!mapped) {
        slots_.free(*slot);
        run_slab_.deallocate(run);
    }
    return mapped;
}

// Maps [va, va + bytes) from the frame's start in pieces, each one run: pages up to the next L3 table, or,
// with blocks allowed, blocks up to the next L2 table where the address and the frame's memory are both at
// a 2 MiB boundary (vm::PageTable makes one 1 GiB block of a whole aligned GiB). `owned`, when given,
// describes a frame the paging state made: the run that maps it deletes it when it goes (a lazy chunk never
// crosses an L3 table, so it is one run).
Result<void> PagingState::map_locked(std::uint64_t va, abi::CapAddr frame, const FrameInfo& info,
                                     std::uint64_t bytes, std::uint8_t rights, const MappingRun* owned,
                                     vm::Blocks blocks) {
    MappingRun source = owned != nullptr ? *owned : MappingRun{};
    source.frame_cap = frame;
    source.frame_pa = info.pa;
    source.rights = rights;
    source.held = info.held;
    source.device = info.device;
    std::uint64_t end = va + bytes;
    for (std::uint64_t done = 0; done < bytes;) {
        std::uint64_t at = va + done;
        bool block = blocks == vm::Blocks::allowed && ((at | (info.pa + done)) & (l3_span - 1)) == 0 &&
                     end - at >= l3_span;
        std::uint64_t piece =
            block ? (piece_end(at, end, l2_span) & ~(l3_span - 1)) - at : piece_end(at, end, l3_span) - at;
        source.frame_offset = done;
        if (Result<void> r =
                map_piece(at, piece, source, block ? vm::Blocks::allowed : vm::Blocks::forbidden);
            !r) {
            if (done > 0 && !table_.unmap(va, done))
                broken("undoing a partial map", Errc::invalid_state);
            return r;
        }
        done += piece;
    }
    return ok();
}

// Maps the caller's frame into the Eager reservation just made at va, or gives the reservation back.
Result<void> PagingState::map_reserved(std::uint64_t va, abi::CapAddr frame, const FrameInfo& info,
                                       std::uint64_t bytes, std::uint8_t rights, vm::Blocks blocks) {
    Result<void> r = map_locked(va, frame, info, bytes, rights, nullptr, blocks);
    if (!r)
        (void)space_.release(va, [](std::uint64_t, std::uint64_t) {});
    return r;
}

Result<std::uint64_t> PagingState::map(abi::CapAddr frame, std::uint64_t bytes, std::uint8_t rights,
                                       vm::Blocks blocks) {
    core::LockGuard guard(lock_);
    if (!ready_)
        return error(Errc::invalid_state);
    bytes = arch::page_up(bytes);
    FrameInfo info;
    AOS_TRY(check_frame(frame, bytes, rights, info));
    // At a 2 MiB boundary when the frame's memory is at one, so that it maps as blocks; elsewhere if no such
    // space is left.
    bool aligned = blocks == vm::Blocks::allowed && bytes >= l3_span && (info.pa & (l3_span - 1)) == 0;
    Result<std::uint64_t> va = space_.reserve(bytes, aligned ? l3_span : page, vm::Backing::Eager);
    if (!va && aligned)
        va = space_.reserve(bytes, page, vm::Backing::Eager);
    if (!va)
        return error(va.error());
    AOS_TRY(map_reserved(*va, frame, info, bytes, rights, blocks));
    return *va;
}

Result<void> PagingState::map_fixed(std::uint64_t va, abi::CapAddr frame, std::uint64_t bytes,
                                    std::uint8_t rights, vm::Blocks blocks) {
    core::LockGuard guard(lock_);
    if (!ready_)
        return error(Errc::invalid_state);
    if (!arch::page_aligned(va))
        return error(Errc::misaligned);
    bytes = arch::page_up(bytes);
    FrameInfo info;
    AOS_TRY(check_frame(frame, bytes, rights, info));
    if (space_.fault(va)) {
        // Inside an unbacked part of a lazy reservation: map, then record it as backed there. Whole chunks
        // only, so that a chunk stays wholly backed or not at all. A slab refill during the map maps
        // metadata, never inside a reservation.
        if (((va | bytes) & (lazy_chunk - 1)) != 0)
            return error(Errc::misaligned);
        AOS_TRY(map_locked(va, frame, info, bytes, rights, nullptr, blocks));
        if (Result<void> r = space_.reserve_at(va, bytes, vm::Backing::Eager); !r) {
            if (!table_.unmap(va, bytes))
                broken("undoing a fixed map", Errc::invalid_state);
            return r;
        }
        return ok();
    }
    // Free space: a reservation of its own first, so that no refill takes the range meanwhile.
    AOS_TRY(space_.reserve_at(va, bytes, vm::Backing::Eager));
    return map_reserved(va, frame, info, bytes, rights, blocks);
}

Result<std::uint64_t> PagingState::reserve_lazy(std::uint64_t bytes, std::uint64_t guard_pages,
                                                std::uint64_t align) {
    core::LockGuard guard(lock_);
    if (!ready_)
        return error(Errc::invalid_state);
    if (bytes == 0)
        return error(Errc::zero_size);
    if (bytes > window_hi - window_lo)
        return error(Errc::no_memory);
    if (align < lazy_chunk || (align & (align - 1)) != 0)
        return error(Errc::invalid_argument);
    bytes = (bytes + lazy_chunk - 1) & ~(lazy_chunk - 1);
    // Chunk-aligned, so that a chunk is either wholly backed or not at all.
    return space_.reserve(bytes, align, vm::Backing::Lazy, guard_pages);
}

Result<void> PagingState::unmap(std::uint64_t va) {
    core::LockGuard guard(lock_);
    if (!ready_)
        return error(Errc::invalid_state);
    // Unmapping only frees (no table is made, no slab refills), so it may run inside release.
    return space_.release(va, [this](std::uint64_t base, std::uint64_t size) {
        if (Result<void> r = table_.unmap(base, size); !r)
            broken("unmapping a backed range", r.error());
    });
}

Result<void> PagingState::protect(std::uint64_t va, std::uint64_t bytes, std::uint8_t rights) {
    core::LockGuard guard(lock_);
    if (!ready_)
        return error(Errc::invalid_state);
    vm::Backing kind = AOS_TRY(space_.backing_kind(va, bytes));
    if (kind != vm::Backing::Eager)
        return error(Errc::invalid_argument); // a lazy chunk backed later would not know its rights
    AOS_TRY(check_protect(va, va + bytes, rights));
    if (Result<void> r = table_.protect(va, bytes, attrs_for(rights)); !r)
        broken("new rights for a checked range", r.error());
    return ok();
}

// The kernel's rule for every run [va, end) touches, checked before anything changes: a refusal there
// would leave the range half changed. The runs of one mapping share its frame, so their rights agree; each
// run's mapping capability must still be there (the caller may have deleted the frame's last capability,
// which took the mapping with it); a block gets new rights whole or not at all (VNodes cannot split one).
Result<void> PagingState::check_protect(std::uint64_t va, std::uint64_t end, std::uint8_t rights) const {
    if (Errc why = abi::map_rights_error(rights, abi::ObjType::frame, abi::rights_all); why != Errc{})
        return error(why);
    const MappingRun* identified = nullptr;
    for (std::uint64_t at = va; at < end;) {
        unsigned level = 0;
        const VNodeTable* t = leaf_holder(at, level);
        if (t == nullptr)
            return error(Errc::not_found);
        std::uint64_t span = PagingArch::entry_size(level);
        std::uint64_t stop = level == last_level ? piece_end(at, end, l3_span) : at + span;
        if (level != last_level && ((at & (span - 1)) != 0 || stop > end))
            return error(Errc::invalid_argument);
        unsigned first = PagingArch::index(at, level);
        unsigned last = PagingArch::index(stop - 1, level);
        for (const MappingRun* r = t->runs; r != nullptr; r = r->next) {
            if (r->first > last || r->first + r->count <= first)
                continue;
            abi::ObjType type = r->device ? abi::ObjType::dev_frame : abi::ObjType::frame;
            if (Errc why = abi::map_rights_error(rights, type, r->held); why != Errc{})
                return error(why);
            if (r != identified && !sys::cap_identify(r->mapping.addr()))
                return error(Errc::not_found);
            identified = r;
        }
        at = stop;
    }
    return ok();
}

Result<std::uint64_t> PagingState::discard(std::uint64_t va, std::uint64_t bytes) {
    core::LockGuard guard(lock_);
    if (!ready_)
        return error(Errc::invalid_state);
    if (bytes == 0)
        return error(Errc::zero_size);
    if (((va | bytes) & (lazy_chunk - 1)) != 0)
        return error(Errc::misaligned);
    // A mapping run goes whole: a range that starts or ends inside one (a fixed map of several chunks)
    // cannot be given back.
    if (va + bytes > va && (inside_one_run(va) || inside_one_run(va + bytes)))
        return error(Errc::invalid_argument);
    // As in unmap: only frees, so it may run inside unback.
    std::uint64_t unmapped = 0;
    AOS_TRY(space_.unback(va, bytes, [&](std::uint64_t base, std::uint64_t size) {
        if (Result<void> r = table_.unmap(base, size); !r)
            broken("unmapping a discarded range", r.error());
        unmapped += size;
    }));
    return unmapped;
}

// The table whose entry maps va as a leaf (a page of an L3 table, a block of an L2 or L1 table) and its
// level, or null when nothing maps va.
const VNodeTable* PagingState::leaf_holder(std::uint64_t va, unsigned& level) const {
    const VNodeTable* t = &root_;
    for (level = 0; t != nullptr; ++level) {
        unsigned i = PagingArch::index(va, level);
        if (PagingArch::is_leaf(t->shadow[i], level))
            return t;
        if (level == last_level)
            return nullptr;
        t = child_table(*t, i, level);
    }
    return nullptr;
}

// Whether the memory just below va and at va belong to one mapping run: inside one block, or two entries of
// one run. Runs never cross a table.
bool PagingState::inside_one_run(std::uint64_t va) const {
    unsigned level = 0;
    const VNodeTable* t = leaf_holder(va, level);
    if (t == nullptr)
        return false;
    std::uint64_t span = PagingArch::entry_size(level);
    if ((va & (span - 1)) != 0)
        return true;
    if ((va & (span * PagingArch::entries - 1)) == 0)
        return false;
    unsigned i = PagingArch::index(va, level);
    for (const MappingRun* r = t->runs; r != nullptr; r = r->next) {
        if (r->first < i && i < r->first + r->count)
            return true;
    }
    return false;
}

Result<std::uint64_t> PagingState::back_chunk(std::uint64_t at) {
    MappingRun owned;
    owned.owns_frame = true;
    owned.frame_bytes = lazy_chunk;
    owned.frame_ram_offset = AOS_TRY(ram_.reserve(lazy_chunk));
    Result<SlotAllocator::Slot> frame = slots_.alloc();
    Result<void> made = frame
                            ? ram_.retype_at(abi::ObjType::frame, owned.frame_ram_offset, lazy_chunk, *frame)
                            : Result<void>(error(frame.error()));
    if (!made) {
        if (frame)
            slots_.free(*frame);
        ram_.give_back(owned.frame_ram_offset, lazy_chunk);
        return error(made.error());
    }
    owned.frame = *frame;
    std::uint64_t pa = ram_base() + owned.frame_ram_offset;
    if (Result<void> mapped = map_locked(at, frame->addr(), own_frame(pa), lazy_chunk,
                                         abi::right_read | abi::right_write, &owned);
        !mapped) {
        // Nothing of it was mapped (map_locked undoes its own pieces): the frame is still this call's.
        (void)sys::cap_delete(frame->addr());
        slots_.free(*frame);
        ram_.give_back(owned.frame_ram_offset, lazy_chunk);
        return error(mapped.error());
    }
    if (Result<void> marked = space_.mark_backed(at, lazy_chunk); !marked) {
        // The run owns the frame now: unmapping it deletes the frame too.
        if (!table_.unmap(at, lazy_chunk))
            broken("undoing a lazy chunk", Errc::invalid_state);
        return error(marked.error());
    }
    return at;
}

Result<void, PagingFault> PagingState::handle_fault(std::uint64_t far, std::uint64_t esr) {
    core::LockGuard guard(lock_);
    Result<std::uint64_t, vm::FaultError> page_at = space_.fault(far);
    if (!page_at) {
        switch (page_at.error()) {
        case vm::FaultError::null_page:
            return error(PagingFault::null_page);
        case vm::FaultError::unreserved:
            return error(PagingFault::unreserved);
        case vm::FaultError::guard_page:
            return error(PagingFault::guard_page);
        case vm::FaultError::protection: {
            std::uint64_t status = arch::aarch64::esr::Dfsc::get(esr) & arch::aarch64::fsc::kind_mask;
            if (status != arch::aarch64::fsc::translation)
                return error(PagingFault::protection);
            // Raced: another thread backed it first, and the access will succeed when it runs again. The
            // same page raced again and again means its mapping is gone (its frame capability deleted).
            std::uint64_t at = arch::page_down(far);
            raced_count_ = at == raced_page_ ? raced_count_ + 1 : 1;
            raced_page_ = at;
            if (raced_count_ > max_raced)
                return error(PagingFault::mapping_gone);
            return ok();
        }
        }
    }
    if (!ready_)
        return error(PagingFault::no_memory);
    if (!back_chunk(*page_at & ~(lazy_chunk - 1)))
        return error(PagingFault::no_memory);
    ++faults_;
    return ok();
}

Result<std::span<std::byte>> PagingState::refill(std::size_t bytes) {
    // Called by a slab while this state's lock is held (slabs are used only inside its operations).
    return map_metadata(bytes);
}

// Metadata goes up from metadata_lo, never to be unmapped: a bump pointer is all the bookkeeping it needs.
// The range is claimed before mapping, since the map may refill another slab, which maps more metadata.
Result<std::span<std::byte>> PagingState::map_metadata(std::size_t bytes) {
    bytes = arch::page_up(bytes);
    if (bytes > window_hi - metadata_next_)
        return error(Errc::no_memory);
    std::uint64_t offset = AOS_TRY(ram_.reserve(bytes));
    Result<SlotAllocator::Slot> frame = slots_.alloc();
    Result<void> made = frame ? ram_.retype_at(abi::ObjType::frame, offset, bytes, *frame)
                              : Result<void>(error(frame.error()));
    std::uint64_t va = metadata_next_;
    metadata_next_ += bytes;
    Result<void> mapped = made ? map_locked(va, frame->addr(), own_frame(ram_base() + offset), bytes,
                                            abi::right_read | abi::right_write, nullptr)
                               : made;
    if (!mapped) {
        if (made)
            (void)sys::cap_delete(frame->addr());
        if (frame)
            slots_.free(*frame);
        ram_.give_back(offset, bytes);
        if (metadata_next_ == va + bytes)
            metadata_next_ = va; // nothing nested claimed space above it meanwhile
        return error(mapped.error());
    }
    // The frame stays for the life of the process: slab memory is never given back.
    metadata_frame_bytes_ += bytes;
    return std::span<std::byte>(reinterpret_cast<std::byte*>(va), bytes);
}

Result<abi::CapAddr> PagingState::retype(abi::ObjType type, std::uint64_t bytes) {
    core::LockGuard guard(lock_);
    SlotAllocator::Slot s = AOS_TRY(ram_.retype(slots_, type, bytes));
    return s.addr();
}

// The metadata's share: the tables and runs below the window's last L0 entry, which hold nothing else.
void PagingState::count_metadata(PagingStats& s) const {
    if (const VNodeTable* l1 = child_table(root_, PagingArch::index(metadata_lo, 0), 0))
        count_subtree(*l1, 1, s);
    s.metadata_bytes = metadata_frame_bytes_ + s.metadata_tables * page;
}

void PagingState::count_subtree(const VNodeTable& t, unsigned level, PagingStats& s) const {
    ++s.metadata_tables;
    if (level == last_level) {
        for (const MappingRun* r = t.runs; r != nullptr; r = r->next)
            ++s.metadata_runs;
        return;
    }
    for (unsigned i = 0; i < PagingArch::entries; ++i) {
        if (const VNodeTable* child = child_table(t, i, level))
            count_subtree(*child, level + 1, s);
    }
}

PagingStats PagingState::stats() const {
    core::LockGuard guard(lock_);
    PagingStats s;
    s.vaddr = space_.stats();
    s.tables = table_.table_count();
    s.runs = backend_.live_runs();
    s.faults = faults_;
    s.ram_used = ram_.used();
    count_metadata(s);
    return s;
}

bool PagingState::check_invariants() const {
    core::LockGuard guard(lock_);
    return space_.check_invariants() && table_.check_invariants() && backend_.check_runs() &&
           table_slab_.check_invariants() && run_slab_.check_invariants() && node_slab_.check_invariants() &&
           vaddr_slab_.check_invariants();
}

} // namespace aos::user
