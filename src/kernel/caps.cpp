// Capability invocations that do not touch scheduling. Each validates every argument first and then
// commits with steps that cannot fail, so a refused invocation changes nothing.
#include "caps.hpp"

#include "dispatch.hpp"
#include "lmp.hpp"
#include "memory_layout.hpp"
#include "mmu.hpp"
#include "panic.hpp"

#include <aos/arch/aarch64/descriptors.hpp>

#include <new>

namespace kernel {

namespace {

using aos::Errc;
using aos::abi::CapOp;
using aos::abi::ObjType;

namespace a64 = aos::arch::aarch64;
using Mdb = aos::cap::MappingDb<Cte>;

constinit Mdb mdb;
constexpr std::uint64_t page = KernelArch::page_size;

InvokeOutcome fail(Errc e, unsigned arg) {
    return InvokeOutcome::failure(e, arg);
}

InvokeOutcome success(std::uint64_t v0 = 0, std::uint64_t v1 = 0, std::uint64_t v2 = 0, std::uint64_t v3 = 0,
                      std::uint64_t v4 = 0) {
    return InvokeOutcome::success(v0, v1, v2, v3, v4);
}

// Mapping capabilities: the table and first entry in `word`, the offset into the object and the entry
// count in `extra` (both page-aligned values with the small number in the low bits).
std::uint64_t mapping_table(const Capability& m) {
    return m.word & ~(page - 1);
}
std::uint64_t mapping_first(const Capability& m) {
    return m.word & (page - 1);
}
std::uint64_t mapping_count(const Capability& m) {
    return m.extra & (page - 1);
}

a64::Descriptor* table_entries(std::uint64_t table_pa) {
    return reinterpret_cast<a64::Descriptor*>(phys_to_virt(table_pa));
}

// The walker must see new entries before the caller returns to EL0.
void publish_entries() {
    __asm__ volatile("dsb ishst\n isb" ::: "memory");
}

// A mapping capability does not know the address space or the virtual address it maps, so a change to its
// entries invalidates every EL1&0 TLB entry: correct everywhere, and rare next to mapping.
void invalidate_all_translations() {
    __asm__ volatile("dsb ishst\n tlbi vmalle1is\n dsb ish\n isb" ::: "memory");
}

void unmap(const Capability& m) {
    a64::Descriptor* e = table_entries(mapping_table(m));
    for (std::uint64_t i = mapping_first(m); i < mapping_first(m) + mapping_count(m); ++i)
        e[i] = 0;
    invalidate_all_translations();
}

// A mapping capability of the object c names (frame or table), or null: they sort right after c's copies and
// the objects retyped from all of c.
Cte* mapping_of(const Cte& c) {
    for (Cte* n = mdb.first_descendant(c);
         n != nullptr && n->mdb_key.base == c.mdb_key.base && n->mdb_key.size == c.mdb_key.size;
         n = Mdb::next(*n)) {
        if (n->cap.type == ObjType::mapping && n->mdb_key.depth == c.mdb_key.depth + 1)
            return n;
    }
    return nullptr;
}

void release(Cte& c, Cte*& queue);

// Before a table's memory is freed, every mapping capability pointing into it goes (unmapping as it goes).
void drop_mappings_into(const Capability& table, Cte*& queue) {
    a64::Descriptor* e = table_entries(table.base);
    for (std::uint64_t i = 0; i < KernelArch::entries; ++i) {
        if (!KernelArch::is_valid(e[i]))
            continue;
        std::uint64_t pa = e[i] & a64::desc::address_mask;
        Cte* m = mdb.find_overlapping(pa, pa + 1, [&](const Cte& x) {
            return x.cap.type == ObjType::mapping && mapping_table(x.cap) == table.base &&
                   i >= mapping_first(x.cap) && i < mapping_first(x.cap) + mapping_count(x.cap);
        });
        if (m != nullptr)
            release(*m, queue);
        e[i] = 0;
    }
}

// Objects that hold capabilities themselves: a CNode its slots, an endpoint the capabilities queued in it, a
// dispatcher its CSpace and address-space roots and its notice endpoint.
bool holds_capabilities(ObjType t) {
    return is_cnode(t) || t == ObjType::endpoint || t == ObjType::dispatcher;
}

// Takes one capability out of its slot. The last copy of an object takes its mappings with it (and a
// table's own entries). When it was the last copy of an object that holds capabilities, those must go too:
// the entry goes on `queue` (keeping its capability, marked) instead of recursing, so no chain of CNodes,
// endpoints or dispatchers, however deep, can overflow the kernel stack.
void release(Cte& c, Cte*& queue) {
    if (c.empty() || c.cap.being_deleted)
        return;
    bool last = false;
    if (c.in_mdb()) {
        last = !mdb.has_copies(c);
        if (last) {
            while (Cte* m = mapping_of(c))
                release(*m, queue); // a mapping holds nothing: one level
            if (is_vnode(c.cap.type))
                drop_mappings_into(c.cap, queue);
        }
        if (!mdb.remove(c))
            KERNEL_PANIC("mapping database lost a linked capability");
    }
    if (c.cap.type == ObjType::mapping)
        unmap(c.cap);
    if (c.root_of_dispatcher != nullptr)
        dispatcher_lost_address_space(c.root_of_dispatcher);
    if (last && holds_capabilities(c.cap.type)) {
        c.cap.being_deleted = true;
        c.delete_next = queue;
        queue = &c;
        return;
    }
    clear(c);
}

// Ends every object on the queue, putting the capabilities it held on the queue in turn.
void drain(Cte*& queue) {
    while (queue != nullptr) {
        Cte* c = queue;
        queue = c->delete_next;
        if (is_cnode(c->cap.type)) {
            Cte* slots = cnode_slots(c->cap);
            std::uint64_t n = cnode_slot_count(c->cap);
            for (std::uint64_t i = 0; i < n; ++i)
                release(slots[i], queue);
        } else if (c->cap.type == ObjType::endpoint) {
            Cte* held[lmp_queue_length] = {};
            unsigned n = endpoint_destroy(c->cap.base, held);
            for (unsigned i = 0; i < n; ++i)
                release(*held[i], queue);
        } else if (c->cap.type == ObjType::dispatcher) {
            Cte* held[3] = {};
            dispatcher_destroy(c->cap.base, held[0], held[1], held[2]);
            for (Cte* h : held)
                release(*h, queue);
        }
        clear(*c);
    }
}

} // namespace

void cap_delete(Cte& c) {
    Cte* queue = nullptr;
    release(c, queue);
    drain(queue);
}

namespace {

InvokeOutcome identify(const Cte& t) {
    std::uint64_t word =
        t.cap.type == ObjType::endpoint || t.cap.type == ObjType::dispatcher ? t.cap.word : 0;
    std::uint64_t status = t.cap.type == ObjType::dispatcher ? dispatcher_status_word(t.cap) : 0;
    return success(aos::abi::identify_word(t.cap.type, t.cap.rights), t.cap.base, t.cap.size, word, status);
}

// The empty slots [first, first + count) of the CNode a destination word names (abi::destination) for
// objects of type `placed`: the root CNode's slots take only L2 CNodes.
aos::Result<Cte*> destination_slots(const Cte& root, std::uint64_t dest, std::uint64_t count,
                                    aos::abi::ObjType placed) {
    aos::abi::CNodeRef ref = aos::abi::destination_cnode(dest);
    std::uint64_t first = aos::abi::destination_slot(dest);
    const Cte* cnode = &root;
    if (ref == aos::abi::cnode_root) {
        cnode = &root;
    } else if ((ref & aos::abi::cnode_at_flag) != 0) {
        cnode = AOS_TRY(cap_lookup(root, ref & ~aos::abi::cnode_at_flag));
        if (!is_cnode(cnode->cap.type))
            return aos::error(Errc::invalid_argument);
    } else {
        if (ref >= cnode_slot_count(root.cap))
            return aos::error(Errc::out_of_range);
        cnode = &cnode_slots(root.cap)[ref];
        if (cnode->cap.type != ObjType::l2_cnode || cnode->cap.being_deleted)
            return aos::error(Errc::not_found);
    }
    if (cnode->cap.type == ObjType::l1_cnode && placed != ObjType::l2_cnode)
        return aos::error(Errc::invalid_argument);
    if ((cnode->cap.rights & aos::abi::right_write) == 0)
        return aos::error(Errc::permission_denied);
    std::uint64_t slots = cnode_slot_count(cnode->cap);
    if (count == 0 || first >= slots || count > slots - first)
        return aos::error(Errc::out_of_range);
    Cte* s = cnode_slots(cnode->cap) + first;
    for (std::uint64_t i = 0; i < count; ++i) {
        if (!s[i].empty())
            return aos::error(Errc::already_exists);
    }
    return s;
}

InvokeOutcome copy_or_mint(const Cte& root, Cte& src, bool mint, const std::uint64_t (&a)[6]) {
    if (src.cap.being_deleted)
        return fail(Errc::invalid_state, arg_target);
    if (src.cap.type == ObjType::mapping)
        return fail(Errc::invalid_argument, arg_target); // one capability per mapping: deleting it unmaps
    std::uint8_t rights = src.cap.rights;
    std::uint64_t badge = src.cap.word;
    if (mint) {
        if (a[arg3] > aos::abi::rights_all)
            return fail(Errc::invalid_argument, arg3);
        rights = static_cast<std::uint8_t>(rights & a[arg3]);
        if (a[arg4] != 0) {
            if (src.cap.type != ObjType::endpoint)
                return fail(Errc::invalid_argument, arg4);
            if (src.cap.word != 0)
                return fail(Errc::invalid_state, arg4); // a badge is set once
            badge = a[arg4];
        }
    }
    aos::Result<Cte*> d = destination_slots(root, a[arg2], 1, src.cap.type);
    if (!d)
        return fail(d.error(), arg2);
    Cte& dest = **d;
    install_copy(dest, src);
    dest.cap.rights = rights;
    dest.cap.word = badge;
    return success();
}

InvokeOutcome revoke(Cte& t) {
    if (!t.in_mdb())
        return success(0); // kernel-made and non-memory objects have no descendants here
    std::uint64_t count = 0;
    Cte* queue = nullptr;
    while (Cte* d = mdb.first_descendant(t)) {
        release(*d, queue);
        ++count;
    }
    drain(queue);
    return success(count);
}

// The size an object of `type` must have, or 0 when any whole number of granules will do.
aos::Result<std::uint64_t> fixed_object_size(ObjType type) {
    switch (type) {
    case ObjType::ram:
    case ObjType::frame:
    case ObjType::l1_cnode:
        return std::uint64_t{0};
    case ObjType::l2_cnode:
        return std::uint64_t{aos::abi::l2_cnode_bytes};
    case ObjType::vnode_l0:
    case ObjType::vnode_l1:
    case ObjType::vnode_l2:
    case ObjType::vnode_l3:
        return aos::abi::vnode_bytes;
    case ObjType::dispatcher:
        return aos::abi::dispatcher_bytes;
    case ObjType::endpoint:
        return aos::abi::endpoint_bytes;
    default:
        return aos::error(Errc::unsupported); // null, device frames (not from RAM), mappings
    }
}

InvokeOutcome retype(const Cte& root, Cte& src, const std::uint64_t (&a)[6]) {
    if (src.cap.type != ObjType::ram)
        return fail(Errc::invalid_argument, arg_op); // the operation does not apply to this type
    if ((src.cap.rights & aos::abi::right_write) == 0)
        return fail(Errc::permission_denied, arg_target);
    if (!src.in_mdb() || src.cap.being_deleted)
        return fail(Errc::invalid_state, arg_target);
    auto type = static_cast<ObjType>(aos::abi::retype_type(a[arg2]));
    std::uint64_t count = aos::abi::retype_count(a[arg2]);
    std::uint64_t offset = a[arg3];
    std::uint64_t objsize = a[arg4];
    if (aos::abi::retype_type(a[arg2]) >= aos::abi::obj_type_count)
        return fail(Errc::invalid_argument, arg2);
    aos::Result<std::uint64_t> fixed = fixed_object_size(type);
    if (!fixed)
        return fail(fixed.error(), arg2);
    if (count == 0 || count > aos::abi::l2_cnode_slots)
        return fail(Errc::out_of_range, arg2);
    if (type == ObjType::dispatcher && count > dispatcher_asids_free())
        return fail(Errc::no_memory, arg2); // each needs an address-space identifier
    if (objsize == 0)
        return fail(Errc::zero_size, arg4);
    if (objsize % aos::abi::object_granule != 0 || (*fixed != 0 && objsize != *fixed))
        return fail(Errc::invalid_argument, arg4);
    if (type == ObjType::l1_cnode && objsize / aos::abi::cte_size < aos::abi::l1_cnode_min_slots)
        return fail(Errc::invalid_argument, arg4);
    if (offset % aos::abi::object_granule != 0)
        return fail(Errc::misaligned, arg3);
    if (objsize > src.cap.size / count)
        return fail(Errc::out_of_range, arg4);
    std::uint64_t total = objsize * count;
    if (offset > src.cap.size || total > src.cap.size - offset)
        return fail(Errc::out_of_range, arg3);
    std::uint64_t lo = src.cap.base + offset;
    if (mdb.find_overlapping_descendant(src, lo, lo + total) != nullptr)
        return fail(Errc::overlap, arg3);
    aos::Result<Cte*> dest = destination_slots(root, a[arg5], count, type);
    if (!dest)
        return fail(dest.error(), arg5);

    // Commit: fresh objects start zeroed (an all-zero CNode is all empty slots). RAM stays as it is: nobody
    // can read it until it becomes something else, and that retype zeroes it.
    if (type != ObjType::ram)
        zero_physical(lo, total);
    for (std::uint64_t i = 0; i < count; ++i) {
        Cte& d = (*dest)[i];
        if (is_cnode(type)) {
            Cte* slots = reinterpret_cast<Cte*>(phys_to_virt(lo + i * objsize));
            for (std::uint64_t s = 0; s < objsize / aos::abi::cte_size; ++s)
                ::new (&slots[s]) Cte{};
        }
        d.cap = Capability{
            .type = type, .rights = aos::abi::rights_all, .base = lo + i * objsize, .size = objsize};
        if (type == ObjType::dispatcher)
            d.cap.word = dispatcher_construct(d.cap.base);
        if (type == ObjType::endpoint)
            endpoint_construct(d.cap.base); // its badge (word) stays 0 until a mint sets one
        d.mdb_key = {.base = d.cap.base,
                     .size = objsize,
                     .depth = src.mdb_key.depth + 1,
                     .type = static_cast<std::uint32_t>(type)};
        if (!mdb.insert(d))
            KERNEL_PANIC("retype: the mapping database refused a checked object");
    }
    return success(count);
}

// The rights a leaf mapping asks for, checked against the source capability (abi::map_rights_error).
aos::Result<std::uint8_t> leaf_rights(std::uint64_t asked, const Capability& src) {
    if (Errc why = aos::abi::map_rights_error(asked, src.type, src.rights); why != Errc{})
        return aos::error(why);
    return static_cast<std::uint8_t>(asked);
}

// A page (L3) or block (L1, L2) of a frame at `level`.
a64::Descriptor leaf_descriptor(std::uint64_t pa, std::uint8_t rights, ObjType type, unsigned level) {
    a64::PageAttrs attrs =
        user_page_attrs(aos::abi::user_prot(rights),
                        type == ObjType::dev_frame ? a64::MemoryType::device : a64::MemoryType::normal);
    aos::Result<a64::Descriptor> d = KernelArch::encode_leaf(pa, attrs, level);
    if (!d)
        KERNEL_PANIC("map: checked rights the descriptor cannot express");
    return *d;
}

InvokeOutcome vnode_map(const Cte& root, Cte& table, const std::uint64_t (&a)[6]) {
    unsigned level = vnode_level(table.cap.type);
    if ((table.cap.rights & aos::abi::right_write) == 0)
        return fail(Errc::permission_denied, arg_target);
    aos::Result<Cte*> found = cap_lookup(root, a[arg2]);
    if (!found)
        return fail(found.error(), arg2);
    Cte& src = **found;
    // A frame goes in as pages (an L3 table) or blocks (an L1 or L2 table); a table one level down, once.
    bool frame = src.cap.type == ObjType::frame || src.cap.type == ObjType::dev_frame;
    bool fits = frame ? KernelArch::is_last_level(level) || KernelArch::block_allowed(level)
                      : is_vnode(src.cap.type) && vnode_level(src.cap.type) == level + 1;
    if (!fits || !src.in_mdb())
        return fail(Errc::invalid_argument, arg2); // wrong kind, or a kernel-made table
    if (!frame && mapping_of(src) != nullptr)
        return fail(Errc::busy, arg2); // a table has one place in one address space
    std::uint64_t first = aos::abi::map_first(a[arg3]);
    std::uint64_t count = aos::abi::map_count(a[arg3]);
    if (!aos::abi::map_entries_valid(a[arg3]) || count == 0 || first >= KernelArch::entries ||
        count > KernelArch::entries - first || (!frame && count != 1))
        return fail(Errc::out_of_range, arg3);
    std::uint64_t offset = a[arg4] & ~(page - 1);
    std::uint64_t span = KernelArch::entry_size(level); // what one entry maps: a page or a block
    std::uint8_t rights = 0;
    if (frame) {
        aos::Result<std::uint8_t> r = leaf_rights(a[arg4] & (page - 1), src.cap);
        if (!r)
            return fail(r.error(), arg4);
        rights = *r;
        if (((src.cap.base + offset) & (span - 1)) != 0)
            return fail(Errc::misaligned, arg4); // a block maps memory aligned to its size
        if (offset > src.cap.size || count * span > src.cap.size - offset)
            return fail(Errc::out_of_range, arg4);
    } else if (a[arg4] != 0) {
        return fail(Errc::invalid_argument, arg4); // a table has no offset or rights of its own
    }
    a64::Descriptor* e = table_entries(table.cap.base);
    for (std::uint64_t i = first; i < first + count; ++i) {
        if (KernelArch::is_valid(e[i]))
            return fail(Errc::already_exists, arg3);
    }
    aos::Result<Cte*> dest = destination_slots(root, a[arg5], 1, ObjType::mapping);
    if (!dest)
        return fail(dest.error(), arg5);

    for (std::uint64_t i = 0; i < count; ++i) {
        e[first + i] = frame ? leaf_descriptor(src.cap.base + offset + i * span, rights, src.cap.type, level)
                             : KernelArch::encode_table(src.cap.base);
    }
    publish_entries();
    Cte& m = **dest;
    m.cap = Capability{.type = ObjType::mapping,
                       .rights = frame ? src.cap.rights : std::uint8_t{0}, // what mapping_protect may grant
                       .base = src.cap.base,
                       .size = src.cap.size,
                       .word = table.cap.base | first,
                       .extra = offset | count};
    m.mdb_key = {.base = src.cap.base,
                 .size = src.cap.size,
                 .depth = src.mdb_key.depth + 1,
                 .type = static_cast<std::uint32_t>(ObjType::mapping)};
    if (!mdb.insert(m))
        KERNEL_PANIC("map: the mapping database refused a mapping capability");
    return success();
}

// New rights for some pages of a frame's mapping, checked as vnode_map checks them against the rights the
// frame capability had (kept in the mapping). Only permission bits change, which needs no break-before-make
// (Arm ARM D8.16.1): the entries are rewritten in place.
InvokeOutcome mapping_protect(const Cte& m, const std::uint64_t (&a)[6]) {
    // vnode_map gives a table's mapping no rights, and a frame's the frame capability's, which include read
    // (it refuses a map without read, and never maps more than the capability has).
    if ((m.cap.rights & aos::abi::right_read) == 0)
        return fail(Errc::invalid_argument, arg_target);
    std::uint64_t first = aos::abi::map_first(a[arg3]);
    std::uint64_t count = aos::abi::map_count(a[arg3]);
    if (!aos::abi::map_entries_valid(a[arg3]) || count == 0 || first >= mapping_count(m.cap) ||
        count > mapping_count(m.cap) - first)
        return fail(Errc::out_of_range, arg3);
    a64::Descriptor* e = table_entries(mapping_table(m.cap)) + mapping_first(m.cap) + first;
    // Pages or blocks, device memory or not: what the entries say (a frame's entries are all alike). L1 and
    // L2 blocks share one format.
    constexpr unsigned page_level = KernelArch::levels - 1;
    constexpr unsigned block_level = page_level - 1;
    unsigned level = a64::desc::TypeTableOrPage::get(e[0]) ? page_level : block_level;
    bool device = KernelArch::decode_leaf(e[0], level).attrs.memory == a64::MemoryType::device;
    Capability source{.type = device ? ObjType::dev_frame : ObjType::frame, .rights = m.cap.rights};
    aos::Result<std::uint8_t> rights = leaf_rights(a[arg2], source);
    if (!rights)
        return fail(rights.error(), arg2);
    // Every page gets the same attributes: only the output address differs.
    a64::Descriptor attrs = leaf_descriptor(0, *rights, source.type, level);
    for (std::uint64_t i = 0; i < count; ++i)
        e[i] = attrs | (e[i] & a64::desc::address_mask);
    invalidate_all_translations();
    return success();
}

} // namespace

void clear(Cte& c) {
    c.cap = Capability{};
    c.mdb_key = {};
    c.mdb_max_end = 0;
    c.delete_next = nullptr;
}

aos::Result<Cte*> cap_destination(const Cte& root, std::uint64_t dest, ObjType placed) {
    return destination_slots(root, dest, 1, placed);
}

aos::Result<Cte*> cap_destination_any(const Cte& root, std::uint64_t dest) {
    // An LMP receive names its slot before it knows what will arrive: any slot an L2 CNode may take (every
    // one); the type is checked when the capability arrives.
    return destination_slots(root, dest, 1, ObjType::l2_cnode);
}

void cap_move(Cte& to, Cte& from) {
    install_copy(to, from);
    if (from.in_mdb() && !mdb.remove(from))
        KERNEL_PANIC("mapping database lost a linked capability");
    clear(from);
}

Cte* cnode_slots(const Capability& c) {
    return reinterpret_cast<Cte*>(phys_to_virt(c.base));
}

std::uint64_t cnode_slot_count(const Capability& c) {
    return c.size / aos::abi::cte_size;
}

aos::Result<Cte*> cap_lookup(const Cte& root, std::uint64_t caddr) {
    if (root.cap.type != ObjType::l1_cnode)
        return aos::error(Errc::not_found); // a process without a CSpace
    if (caddr > aos::abi::caddr_max)
        return aos::error(Errc::out_of_range);
    std::uint64_t l1 = aos::abi::caddr_l1(caddr);
    if (l1 >= cnode_slot_count(root.cap))
        return aos::error(Errc::out_of_range);
    Cte* slot = &cnode_slots(root.cap)[l1];
    if (!aos::abi::caddr_is_root_slot(caddr)) {
        if (slot->cap.type != ObjType::l2_cnode || slot->cap.being_deleted)
            return aos::error(Errc::not_found);
        slot = &cnode_slots(slot->cap)[aos::abi::caddr_l2(caddr)];
    }
    if (slot->empty() || slot->cap.being_deleted)
        return aos::error(Errc::not_found);
    return slot;
}

Capability make_cnode_cap(ObjType type, std::uint64_t pa, std::uint64_t slots) {
    Cte* s = reinterpret_cast<Cte*>(phys_to_virt(pa));
    for (std::uint64_t i = 0; i < slots; ++i)
        ::new (&s[i]) Cte{};
    return Capability{
        .type = type, .rights = aos::abi::rights_all, .base = pa, .size = slots * aos::abi::cte_size};
}

aos::Result<void> install_original(Cte& slot, ObjType type, std::uint64_t base, std::uint64_t size,
                                   std::uint8_t rights) {
    if (!slot.empty())
        return aos::error(Errc::already_exists);
    slot.cap = Capability{.type = type, .rights = rights, .base = base, .size = size};
    slot.mdb_key = {.base = base, .size = size, .depth = 0, .type = static_cast<std::uint32_t>(type)};
    aos::Result<void> r = mdb.insert(slot);
    if (!r)
        clear(slot);
    return r;
}

void install_copy(Cte& dest, const Cte& src) {
    dest.cap = src.cap;
    dest.mdb_key = src.mdb_key;
    if (src.in_mdb() && !mdb.insert(dest))
        KERNEL_PANIC("the mapping database refused a copy");
}

InvokeOutcome cap_invoke(const Cte& root, Cte& target, CapOp op, const std::uint64_t (&args)[6]) {
    switch (op) {
    case CapOp::identify:
        return identify(target);
    case CapOp::copy:
        return copy_or_mint(root, target, false, args);
    case CapOp::mint:
        return copy_or_mint(root, target, true, args);
    case CapOp::remove:
        cap_delete(target);
        return success();
    case CapOp::revoke:
        return revoke(target);
    case CapOp::retype:
        return retype(root, target, args);
    case CapOp::vnode_map:
        if (!is_vnode(target.cap.type))
            return fail(Errc::invalid_argument, arg_op);
        return vnode_map(root, target, args);
    case CapOp::mapping_protect:
        if (target.cap.type != ObjType::mapping)
            return fail(Errc::invalid_argument, arg_op);
        return mapping_protect(target, args);
    default:
        return fail(Errc::invalid_argument, arg_op);
    }
}

bool caps_check_invariants() {
    return mdb.check_invariants();
}

} // namespace kernel
