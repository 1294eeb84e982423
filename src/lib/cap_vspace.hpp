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

class RamSource;

// The last slots of the first slot CNode belong to the RPC client (rpc_client.cpp): the one the kernel puts
// a received capability in, and the arrival slots it is moved to until its caller takes it. The runtime's
// slot allocator never hands them out.
inline constexpr std::uint32_t rpc_arrival_slots = 8; // capabilities in flight to several threads at once
inline constexpr std::uint32_t rpc_landing_slot = abi::l2_cnode_slots - 1;
inline constexpr std::uint32_t rpc_first_arrival_slot = rpc_landing_slot - rpc_arrival_slots;
inline constexpr std::uint32_t rpc_reserved_slots = 1 + rpc_arrival_slots;

// The slots of L2 CNodes in the caller's root CNode, handed out and taken back. It starts with one; given a
// RAM source (grow_from), it retypes another L2 CNode into an empty root slot whenever all are full.
class SlotAllocator {
public:
    // `usable`: how many slots of the first CNode it may hand out (the rest are the caller's).
    explicit SlotAllocator(abi::CNodeRef root_slot, std::uint32_t usable = abi::l2_cnode_slots);

    struct Slot {
        abi::CNodeRef cnode;
        std::uint32_t index;
        abi::CapAddr addr() const { return abi::caddr(cnode, index); }
        bool operator==(const Slot&) const = default;
    };

    // More CNodes when these are full: retyped from `ram` into empty root slots in [root_from, root_to).
    void grow_from(RamSource& ram, std::uint32_t root_from, std::uint32_t root_to);

    Result<Slot> alloc();
    // The slot must be empty again (its capability deleted) before it is freed.
    void free(const Slot& s);
    std::uint32_t used() const { return used_; }

private:
    static constexpr unsigned max_cnodes = 8;
    static constexpr unsigned words = abi::l2_cnode_slots / 64;

    Result<void> grow();

    abi::CNodeRef cnode_[max_cnodes] = {};
    std::uint64_t bits_[max_cnodes][words] = {};
    unsigned count_ = 1;
    std::uint32_t used_ = 0;
    RamSource* ram_ = nullptr;
    std::uint32_t root_next_ = 0;
    std::uint32_t root_end_ = 0;
};

// Memory from one RAM capability, taken in whole pages: from the front, or a range given back earlier of
// the same size (a freed page table, a heap chunk). Interim for init: its memory manager (the library's
// RegionAllocator over every RAM capability) replaces it there.
class RamSource {
public:
    RamSource(abi::CapAddr ram, std::uint64_t offset, std::uint64_t end)
        : ram_(ram), next_(offset), end_(end) {}

    // Retypes `bytes` (rounded up to pages) into one object of `type`, into a fresh slot.
    Result<SlotAllocator::Slot> retype(SlotAllocator& slots, abi::ObjType type, std::uint64_t bytes);
    // `bytes` (rounded up to pages) set aside now, for an object retyped later with retype_at (a page
    // table, whose type is known only when it is linked). Returns its offset in the RAM capability.
    Result<std::uint64_t> reserve(std::uint64_t bytes);
    Result<void> retype_at(abi::ObjType type, std::uint64_t offset, std::uint64_t bytes,
                           const SlotAllocator::Slot& into);
    // Takes back a range that reserve or retype handed out, once nothing made from it is left.
    void give_back(std::uint64_t offset, std::uint64_t bytes);

    abi::CapAddr capability() const { return ram_; }
    // Bytes handed out and not given back.
    std::uint64_t used() const { return next_ - returned_bytes_ - lost_bytes_; }
    std::uint64_t end() const { return end_; }

private:
    struct Range {
        std::uint64_t offset;
        std::uint64_t bytes;
    };
    static constexpr unsigned max_returned = 128;

    abi::CapAddr ram_;
    std::uint64_t next_;
    std::uint64_t end_;
    // Ranges given back below next_, sorted and coalesced: taken again first fit.
    Range returned_[max_returned] = {};
    unsigned returned_count_ = 0;
    std::uint64_t returned_bytes_ = 0;
    std::uint64_t lost_bytes_ = 0; // given back when the list was full: not reused, not counted as used
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
