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

SlotAllocator::SlotAllocator(abi::CNodeRef root_slot, std::uint32_t usable) {
    cnode_[0] = root_slot;
    for (std::uint32_t i = usable; i < abi::l2_cnode_slots; ++i)
        bits_[0][i / 64] |= std::uint64_t{1} << (i % 64);
}

void SlotAllocator::grow_from(RamSource& ram, std::uint32_t root_from, std::uint32_t root_to) {
    ram_ = &ram;
    root_next_ = root_from;
    root_end_ = root_to;
}

Result<SlotAllocator::Slot> SlotAllocator::alloc() {
    for (unsigned attempt = 0; attempt < 2; ++attempt) {
        for (unsigned c = 0; c < count_; ++c) {
            for (unsigned w = 0; w < words; ++w) {
                if (bits_[c][w] == ~std::uint64_t{0})
                    continue;
                auto b = static_cast<std::uint32_t>(__builtin_ctzll(~bits_[c][w]));
                bits_[c][w] |= std::uint64_t{1} << b;
                ++used_;
                return Slot{cnode_[c], w * 64 + b};
            }
        }
        if (attempt == 0)
            AOS_TRY(grow());
    }
    return error(Errc::no_memory);
}

// An L2 CNode retyped straight into the next empty root slot.
Result<void> SlotAllocator::grow() {
    if (ram_ == nullptr || count_ == max_cnodes)
        return error(Errc::no_memory);
    for (; root_next_ < root_end_; ++root_next_) {
        if (sys::cap_identify(abi::root_slot_caddr(root_next_)))
            continue; // in use
        std::uint64_t offset = AOS_TRY(ram_->reserve(abi::l2_cnode_bytes));
        if (Result<void> r = sys::cap_retype(ram_->capability(), abi::ObjType::l2_cnode, offset,
                                             abi::l2_cnode_bytes, 1, abi::cnode_root, root_next_);
            !r) {
            ram_->give_back(offset, abi::l2_cnode_bytes);
            return r;
        }
        cnode_[count_++] = root_next_++;
        return ok();
    }
    return error(Errc::no_memory);
}

void SlotAllocator::free(const Slot& s) {
    for (unsigned c = 0; c < count_; ++c) {
        if (cnode_[c] != s.cnode)
            continue;
        std::uint64_t bit = std::uint64_t{1} << (s.index % 64);
        if ((bits_[c][s.index / 64] & bit) != 0) {
            bits_[c][s.index / 64] &= ~bit;
            --used_;
        }
        return;
    }
}

Result<std::uint64_t> RamSource::reserve(std::uint64_t bytes) {
    bytes = (bytes + page - 1) & ~(page - 1);
    if (bytes == 0)
        return error(Errc::zero_size);
    for (unsigned i = 0; i < returned_count_; ++i) {
        Range& r = returned_[i];
        if (r.bytes < bytes)
            continue;
        std::uint64_t offset = r.offset;
        r.offset += bytes;
        r.bytes -= bytes;
        returned_bytes_ -= bytes;
        if (r.bytes == 0) {
            for (unsigned j = i + 1; j < returned_count_; ++j)
                returned_[j - 1] = returned_[j];
            --returned_count_;
        }
        return offset;
    }
    if (bytes > end_ - next_)
        return error(Errc::no_memory);
    std::uint64_t offset = next_;
    next_ += bytes;
    return offset;
}

void RamSource::give_back(std::uint64_t offset, std::uint64_t bytes) {
    bytes = (bytes + page - 1) & ~(page - 1);
    unsigned i = 0;
    while (i < returned_count_ && returned_[i].offset < offset)
        ++i;
    bool joins_prev = i > 0 && returned_[i - 1].offset + returned_[i - 1].bytes == offset;
    bool joins_next = i < returned_count_ && offset + bytes == returned_[i].offset;
    if (joins_prev && joins_next) {
        returned_[i - 1].bytes += bytes + returned_[i].bytes;
        for (unsigned j = i + 1; j < returned_count_; ++j)
            returned_[j - 1] = returned_[j];
        --returned_count_;
    } else if (joins_prev) {
        returned_[i - 1].bytes += bytes;
    } else if (joins_next) {
        returned_[i].offset = offset;
        returned_[i].bytes += bytes;
    } else if (offset + bytes == next_) {
        next_ = offset; // the end of what was handed out: no entry needed
        return;
    } else if (returned_count_ < max_returned) {
        for (unsigned j = returned_count_; j > i; --j)
            returned_[j] = returned_[j - 1];
        returned_[i] = Range{offset, bytes};
        ++returned_count_;
    } else {
        lost_bytes_ += bytes; // no room to remember it: never handed out again
        return;
    }
    returned_bytes_ += bytes;
    // The last range reaching next_ goes back to the untouched part.
    if (returned_count_ > 0) {
        Range& last = returned_[returned_count_ - 1];
        if (last.offset + last.bytes == next_) {
            next_ = last.offset;
            returned_bytes_ -= last.bytes;
            --returned_count_;
        }
    }
}

Result<void> RamSource::retype_at(abi::ObjType type, std::uint64_t offset, std::uint64_t bytes,
                                  const SlotAllocator::Slot& into) {
    return sys::cap_retype(ram_, type, offset, bytes, 1, into.cnode, into.index);
}

Result<SlotAllocator::Slot> RamSource::retype(SlotAllocator& slots, abi::ObjType type, std::uint64_t bytes) {
    bytes = (bytes + page - 1) & ~(page - 1);
    SlotAllocator::Slot s = AOS_TRY(slots.alloc());
    Result<std::uint64_t> offset = reserve(bytes);
    Result<void> r = offset ? retype_at(type, *offset, bytes, s) : Result<void>(error(offset.error()));
    if (!r) {
        if (offset)
            give_back(*offset, bytes);
        slots.free(s);
        return error(r.error());
    }
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
