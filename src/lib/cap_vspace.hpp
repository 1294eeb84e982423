// A process's own page tables through VNode capabilities: frames are mapped at chosen addresses and the
// L1-L3 tables on the way are retyped from RAM and mapped on demand. With the slot allocator and the RAM
// source below, it is what init uses to build its children's address spaces and to see their memory.
//
//   aos::user::SlotAllocator slots(aos::abi::root_slot_slot_alloc0);
//   aos::user::RamSource ram(aos::abi::caddr(aos::abi::root_slot_super, 0), 0, ram_size);
//   aos::user::CapVSpace self(aos::abi::caddr(aos::abi::root_slot_task, aos::abi::task_slot_root_vnode),
//                             slots, ram);
//   AOS_TRY(self.map(0x8000000000, frame, frame_bytes, aos::abi::right_read, nullptr));
#pragma once

#include "caps.hpp"

#include <aos/abi/capability.hpp>
#include <aos/core/result.hpp>

#include <cstdint>

namespace aos::user {

// The slots of one L2 CNode in the caller's root CNode, handed out and taken back.
class SlotAllocator {
public:
    explicit SlotAllocator(abi::CNodeRef root_slot) : cnode_(root_slot) {}

    struct Slot {
        abi::CNodeRef cnode;
        std::uint32_t index;
        abi::CapAddr addr() const { return abi::caddr(cnode, index); }
        bool operator==(const Slot&) const = default;
    };

    Result<Slot> alloc();
    // The slot must be empty again (its capability deleted) before it is freed.
    void free(const Slot& s);
    std::uint32_t used() const { return used_; }

private:
    abi::CNodeRef cnode_;
    std::uint64_t bits_[abi::l2_cnode_slots / 64] = {};
    std::uint32_t used_ = 0;
};

// Memory from one RAM capability, taken front to back in whole pages. Interim: init's memory manager (the
// library's RegionAllocator over every RAM capability) replaces it.
class RamSource {
public:
    RamSource(abi::CapAddr ram, std::uint64_t offset, std::uint64_t end)
        : ram_(ram), next_(offset), end_(end) {}

    // Retypes `bytes` (rounded up to pages) into one object of `type`, into a fresh slot.
    Result<SlotAllocator::Slot> retype(SlotAllocator& slots, abi::ObjType type, std::uint64_t bytes);
    std::uint64_t used() const { return next_; }
    std::uint64_t end() const { return end_; }

private:
    abi::CapAddr ram_;
    std::uint64_t next_;
    std::uint64_t end_;
};

// The mapping capabilities one map produced, to unmap them later.
struct Mappings {
    static constexpr unsigned max = 8;
    SlotAllocator::Slot slots[max];
    unsigned count = 0;
};

class CapVSpace {
public:
    CapVSpace(abi::CapAddr l0, SlotAllocator& slots, RamSource& ram) : l0_(l0), slots_(slots), ram_(ram) {}

    // Maps `bytes` of `frame` (from its start) at page-aligned `va` with `rights`, creating tables as needed.
    // The mapping capabilities go to `out` when given (to unmap with unmap()); otherwise they stay for the
    // life of the address space. Nothing is left mapped when it fails.
    Result<void> map(std::uint64_t va, abi::CapAddr frame, std::uint64_t bytes, std::uint8_t rights,
                     Mappings* out);
    // Deletes the mapping capabilities (which unmaps) and frees their slots.
    void unmap(Mappings& m);

    abi::CapAddr root() const { return l0_; }
    unsigned table_count() const { return count_; }

private:
    struct Table {
        std::uint64_t va;
        unsigned level;
        abi::CapAddr cap;
    };
    static constexpr unsigned max_tables = 64;

    // The table at `level` (1-3) covering va, made and mapped into its parent if it is not there yet.
    Result<abi::CapAddr> table(std::uint64_t va, unsigned level);

    abi::CapAddr l0_;
    SlotAllocator& slots_;
    RamSource& ram_;
    Table tables_[max_tables] = {};
    unsigned count_ = 0;
};

} // namespace aos::user
