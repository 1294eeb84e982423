// Page tables through VNode capabilities (cap_vspace.hpp).
#include "cap_vspace.hpp"

namespace aos::user {

namespace {

constexpr std::uint64_t page = abi::object_granule;
constexpr unsigned levels = 4;
constexpr unsigned bits_per_level = 9;

constexpr unsigned shift(unsigned level) {
    return 12 + bits_per_level * (levels - 1 - level);
}
constexpr std::uint32_t index(std::uint64_t va, unsigned level) {
    return static_cast<std::uint32_t>((va >> shift(level)) & (abi::vnode_entries - 1));
}
constexpr abi::ObjType vnode_type(unsigned level) {
    return static_cast<abi::ObjType>(static_cast<unsigned>(abi::ObjType::vnode_l0) + level);
}

} // namespace

Result<SlotAllocator::Slot> SlotAllocator::alloc() {
    for (std::uint32_t w = 0; w < abi::l2_cnode_slots / 64; ++w) {
        if (bits_[w] == ~std::uint64_t{0})
            continue;
        std::uint32_t b = static_cast<std::uint32_t>(__builtin_ctzll(~bits_[w]));
        bits_[w] |= std::uint64_t{1} << b;
        ++used_;
        return Slot{cnode_, w * 64 + b};
    }
    return error(Errc::no_memory);
}

void SlotAllocator::free(const Slot& s) {
    std::uint64_t bit = std::uint64_t{1} << (s.index % 64);
    if ((bits_[s.index / 64] & bit) != 0) {
        bits_[s.index / 64] &= ~bit;
        --used_;
    }
}

Result<SlotAllocator::Slot> RamSource::retype(SlotAllocator& slots, abi::ObjType type, std::uint64_t bytes) {
    bytes = (bytes + page - 1) & ~(page - 1);
    if (bytes == 0 || bytes > end_ - next_)
        return error(Errc::no_memory);
    SlotAllocator::Slot s = AOS_TRY(slots.alloc());
    Result<void> r = sys::cap_retype(ram_, type, next_, bytes, 1, s.cnode, s.index);
    if (!r) {
        slots.free(s);
        return error(r.error());
    }
    next_ += bytes;
    return s;
}

Result<abi::CapAddr> CapVSpace::table(std::uint64_t va, unsigned level) {
    std::uint64_t base = va & ~((std::uint64_t{1} << shift(level - 1)) - 1);
    for (unsigned i = 0; i < count_; ++i) {
        if (tables_[i].level == level && tables_[i].va == base)
            return tables_[i].cap;
    }
    if (count_ == max_tables)
        return error(Errc::no_memory);
    abi::CapAddr parent = level == 1 ? l0_ : AOS_TRY(table(va, level - 1));
    SlotAllocator::Slot t = AOS_TRY(ram_.retype(slots_, vnode_type(level), abi::vnode_bytes));
    Result<SlotAllocator::Slot> m = slots_.alloc();
    Result<void> mapped =
        m ? sys::vnode_map(parent, t.addr(), index(va, level - 1), 1, 0, 0, m->cnode, m->index)
          : Result<void>(error(m.error()));
    if (!mapped) {
        // The table's memory stays used in the RAM source; its capability goes.
        (void)sys::cap_delete(t.addr());
        slots_.free(t);
        if (m)
            slots_.free(*m);
        return error(mapped.error());
    }
    tables_[count_++] = Table{base, level, t.addr()};
    return t.addr();
}

Result<void> CapVSpace::map(std::uint64_t va, abi::CapAddr frame, std::uint64_t bytes, std::uint8_t rights,
                            Mappings* out) {
    if ((va & (page - 1)) != 0)
        return error(Errc::misaligned);
    bytes = (bytes + page - 1) & ~(page - 1);
    Mappings local;
    Mappings& done = out != nullptr ? *out : local;
    unsigned first_new = done.count;
    auto undo = [&](Errc e) -> Result<void> {
        for (unsigned i = first_new; i < done.count; ++i) {
            (void)sys::cap_delete(done.slots[i].addr());
            slots_.free(done.slots[i]);
        }
        done.count = first_new;
        return error(e);
    };
    for (std::uint64_t offset = 0; offset < bytes;) {
        std::uint64_t at = va + offset;
        std::uint32_t entry = index(at, 3);
        std::uint64_t pages = (bytes - offset) / page;
        std::uint64_t room = abi::vnode_entries - entry;
        std::uint32_t count = static_cast<std::uint32_t>(pages < room ? pages : room);
        if (done.count == Mappings::max)
            return undo(Errc::no_memory);
        Result<abi::CapAddr> l3 = table(at, 3);
        if (!l3)
            return undo(l3.error());
        Result<SlotAllocator::Slot> m = slots_.alloc();
        if (!m)
            return undo(m.error());
        Result<void> r = sys::vnode_map(*l3, frame, entry, count, offset, rights, m->cnode, m->index);
        if (!r) {
            slots_.free(*m);
            return undo(r.error());
        }
        done.slots[done.count++] = *m;
        offset += std::uint64_t{count} * page;
    }
    if (out == nullptr)
        done.count = 0; // kept for the life of the address space
    return ok();
}

void CapVSpace::unmap(Mappings& m) {
    for (unsigned i = 0; i < m.count; ++i) {
        (void)sys::cap_delete(m.slots[i].addr());
        slots_.free(m.slots[i]);
    }
    m.count = 0;
}

} // namespace aos::user
