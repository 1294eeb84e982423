// Capability invocations that do not touch scheduling. Each validates every argument first and then
// commits with steps that cannot fail, so a refused invocation changes nothing.
#include "caps.hpp"

#include "memory_layout.hpp"
#include "panic.hpp"

#include <new>

namespace kernel {

namespace {

using aos::Errc;
using aos::abi::CapOp;
using aos::abi::ObjType;

constinit aos::cap::MappingDb<Cte> mdb;

// Argument registers, named for the errors that point at them.
enum Arg : unsigned { arg_target = 0, arg_op = 1, arg2 = 2, arg3 = 3, arg4 = 4, arg5 = 5 };

InvokeOutcome fail(Errc e, unsigned arg) {
    return InvokeOutcome::failure(e, arg);
}

InvokeOutcome success(std::uint64_t v0 = 0, std::uint64_t v1 = 0, std::uint64_t v2 = 0,
                      std::uint64_t v3 = 0) {
    return InvokeOutcome::success(v0, v1, v2, v3);
}

// Takes one capability out of its slot. When it was the last copy of a CNode, the CNode's slots must be
// emptied too: the entry goes on `queue` (keeping its capability, marked) instead of recursing, so a deep
// chain of CNodes cannot overflow the kernel stack.
void release(Cte& c, Cte*& queue) {
    if (c.empty() || c.cap.being_deleted)
        return;
    bool last = false;
    if (c.in_mdb()) {
        last = !mdb.has_copies(c);
        if (!mdb.remove(c))
            KERNEL_PANIC("mapping database lost a linked capability");
    }
    if (last && is_cnode(c.cap.type)) {
        c.cap.being_deleted = true;
        c.delete_next = queue;
        queue = &c;
        return;
    }
    clear(c);
}

// Empties every CNode on the queue (and those their slots were the last copies of), then their own slots.
void drain(Cte*& queue) {
    while (queue != nullptr) {
        Cte* c = queue;
        queue = c->delete_next;
        Cte* slots = cnode_slots(c->cap);
        std::uint64_t n = cnode_slot_count(c->cap);
        for (std::uint64_t i = 0; i < n; ++i)
            release(slots[i], queue);
        clear(*c);
    }
}

void delete_capability(Cte& c) {
    Cte* queue = nullptr;
    release(c, queue);
    drain(queue);
}

InvokeOutcome identify(const Cte& t) {
    std::uint64_t word =
        t.cap.type == ObjType::endpoint || t.cap.type == ObjType::dispatcher ? t.cap.word : 0;
    return success(aos::abi::identify_word(t.cap.type, t.cap.rights), t.cap.base, t.cap.size, word);
}

// The empty slots [first, first + count) of the CNode a destination word names (abi::destination); the
// root CNode's slots take only L2 CNodes.
aos::Result<Cte*> destination_slots(const Cte& root, std::uint64_t dest, std::uint64_t count,
                                    aos::abi::ObjType placed) {
    auto ref = static_cast<aos::abi::CNodeRef>(dest >> 32);
    std::uint64_t first = dest & 0xffffffff;
    const Cte* cnode = &root;
    if (ref != aos::abi::cnode_root) {
        if (ref >= cnode_slot_count(root.cap))
            return aos::error(Errc::out_of_range);
        cnode = &cnode_slots(root.cap)[ref];
        if (cnode->cap.type != ObjType::l2_cnode || cnode->cap.being_deleted)
            return aos::error(Errc::not_found);
    } else if (placed != ObjType::l2_cnode) {
        return aos::error(Errc::invalid_argument);
    }
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
    default:
        return aos::error(Errc::unsupported); // dispatchers and endpoints from RAM: not yet
    }
}

InvokeOutcome retype(const Cte& root, Cte& src, const std::uint64_t (&a)[6]) {
    if (src.cap.type != ObjType::ram)
        return fail(Errc::invalid_argument, arg_target);
    if ((src.cap.rights & aos::abi::right_write) == 0)
        return fail(Errc::permission_denied, arg_target);
    if (!src.in_mdb() || src.cap.being_deleted)
        return fail(Errc::invalid_state, arg_target);
    auto type = static_cast<ObjType>(a[arg2] & 0xffffffff);
    std::uint64_t count = a[arg2] >> 32;
    std::uint64_t offset = a[arg3];
    std::uint64_t objsize = a[arg4];
    if ((a[arg2] & 0xffffffff) >= aos::abi::obj_type_count)
        return fail(Errc::invalid_argument, arg2);
    aos::Result<std::uint64_t> fixed = fixed_object_size(type);
    if (!fixed)
        return fail(fixed.error(), arg2);
    if (count == 0 || count > aos::abi::l2_cnode_slots)
        return fail(Errc::out_of_range, arg2);
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

    // Commit: fresh objects start zeroed (an all-zero CNode is all empty slots).
    auto* bytes = reinterpret_cast<unsigned char*>(phys_to_virt(lo));
    for (std::uint64_t i = 0; i < total; ++i)
        bytes[i] = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        Cte& d = (*dest)[i];
        if (is_cnode(type)) {
            Cte* slots = reinterpret_cast<Cte*>(phys_to_virt(lo + i * objsize));
            for (std::uint64_t s = 0; s < objsize / aos::abi::cte_size; ++s)
                ::new (&slots[s]) Cte{};
        }
        d.cap = Capability{
            .type = type, .rights = aos::abi::rights_all, .base = lo + i * objsize, .size = objsize};
        d.mdb_key = {.base = d.cap.base,
                     .size = objsize,
                     .depth = src.mdb_key.depth + 1,
                     .type = static_cast<std::uint32_t>(type)};
        if (!mdb.insert(d))
            KERNEL_PANIC("retype: the mapping database refused a checked object");
    }
    return success(count);
}

} // namespace

void clear(Cte& c) {
    c.cap = Capability{};
    c.mdb_key = {};
    c.mdb_max_end = 0;
    c.delete_next = nullptr;
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

aos::Result<void> install_original_ram(Cte& slot, std::uint64_t base, std::uint64_t size) {
    if (!slot.empty())
        return aos::error(Errc::already_exists);
    slot.cap = Capability{.type = ObjType::ram, .rights = aos::abi::rights_all, .base = base, .size = size};
    slot.mdb_key = {.base = base, .size = size, .depth = 0, .type = static_cast<std::uint32_t>(ObjType::ram)};
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
        delete_capability(target);
        return success();
    case CapOp::revoke:
        return revoke(target);
    case CapOp::retype:
        return retype(root, target, args);
    default:
        return fail(Errc::invalid_argument, arg_op);
    }
}

bool caps_check_invariants() {
    return mdb.check_invariants();
}

} // namespace kernel
