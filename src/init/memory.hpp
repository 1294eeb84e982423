// init's memory server: every RAM capability from bootinfo in the library's RegionAllocator, with a
// capability policy that performs real retypes and deletes, and segment nodes from a slab that refills
// from frames the server itself allocates and init maps through its paging state (the recursion the slab's
// reserve makes safe).
//
//   aos::init::MemoryServer mm(*bi, slots, paging, boot_ram);
//   AOS_TRY(mm.init());
//   aos::init::RamGrant g = AOS_TRY(mm.alloc(64 * 1024, 4096));   // g.cap: a RAM capability, just that range
//   AOS_TRY(mm.free(g));
#pragma once

#include "cap_vspace.hpp"
#include "paging.hpp"

#include <aos/abi/bootinfo.hpp>
#include <aos/mm/region_allocator.hpp>
#include <aos/mm/slab.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace aos::init {

// A RAM capability the server holds: where it is and which bytes of it the allocator's offsets start at.
struct RamCap {
    user::SlotAllocator::Slot slot{};
    std::uint64_t offset = 0; // an original region added from partway into its capability
    bool operator==(const RamCap&) const = default;
};

class MemoryServer;

// The capability policy: a derived RAM capability per allocation, retyped from the original; deleted when
// the whole allocation came back.
struct RamCapPolicy {
    using Cap = RamCap;
    user::SlotAllocator* slots = nullptr;

    Result<Cap> retype(const Cap& original, std::uint64_t offset, std::uint64_t size);
    void release(const Cap&, std::uint64_t, std::uint64_t) {} // partial frees: the server frees whole grants
    void destroy(const Cap& c);
};

// The slab's refill: a frame from the server, mapped at the next heap address.
struct FrameRefill {
    MemoryServer* server = nullptr;
    Result<std::span<std::byte>> refill(std::size_t bytes);
};

struct RamGrant {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    RamCap cap;
};

class MemoryServer {
public:
    using Node = mm::RegionNode<RamCap>;
    using NodeSlab = mm::Slab<Node, FrameRefill>;
    using Allocator = mm::RegionAllocator<RamCapPolicy, NodeSlab, mm::BestFit>;

    // A refill: room for 64 metadata nodes, of which the slab keeps one's worth for its chunk header (63).
    static constexpr std::size_t slab_chunk = 64 * sizeof(Node);

    // What init takes for itself from the front of the first RAM capability before the server has any: its
    // page tables, its paging state's metadata and the slab's first chunk.
    static constexpr std::uint64_t boot_ram_bytes = std::uint64_t{4} << 20;

    // `boot_ram` (boot_ram_bytes) already uses the start of the first RAM capability (for page tables and the
    // slab's first chunk); the server manages everything after it and the other capabilities whole.
    MemoryServer(const abi::BootInfo& bi, user::SlotAllocator& slots, user::PagingState& paging,
                 user::RamSource& boot_ram);

    // Gives the slab its first chunk (from boot_ram) and adds every RAM capability.
    Result<void> init();

    // Page-granular: size and alignment are rounded up to pages.
    Result<RamGrant> alloc(std::uint64_t size, std::uint64_t align);
    Result<void> free(const RamGrant& g);

    mm::RegionStats stats() const { return allocator_.stats(); }
    mm::SlabStats slab_stats() const { return slab_.stats(); }
    bool check_invariants() const { return allocator_.check_invariants(); }

    // Memory init keeps for good (the slab's chunks, its channels' buffers): a grant retyped into a frame
    // and mapped wherever init's paging state has room.
    Result<std::span<std::byte>> map_heap(std::size_t bytes);

private:
    const abi::BootInfo& bi_;
    user::SlotAllocator& slots_;
    user::PagingState& paging_;
    user::RamSource& boot_ram_;
    RamCapPolicy caps_;
    FrameRefill refill_;
    NodeSlab slab_;
    Allocator allocator_;
};

} // namespace aos::init
