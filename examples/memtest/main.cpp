// Exercises the process's paging state (src/lib/paging.hpp): maps frames at free and at fixed addresses,
// checks every refused call leaves it unchanged, reserves 256 MiB lazily and touches pages in random order
// (seed printed, `memtest SEED` repeats), gives the touched chunks back (discard), then unmaps and checks
// the page tables and the RAM came back. A reservation backed whole in one table is unmapped on its own;
// mapped pages get new rights (protect): read-only, then code written and made executable.
// `memtest guard` ends by touching the guard page below a lazy reservation, which must stop it; `memtest
// gone` touches a page whose frame capability it deleted, and `memtest readonly` (`blockro`) writes to a
// page (a 2 MiB block) it made read-only (protect), which must stop it too. `memtest gib` maps a GiB as
// one 1 GiB block (it needs a free GiB at a 1 GiB boundary: a machine of 3 GiB).
#include "checks.hpp"
#include "code.hpp"
#include "heap.hpp"
#include "paging.hpp"
#include "print.hpp"
#include "random.hpp"
#include "rpc_client.hpp"

#include <aos/arch/aarch64/mmu.hpp>

namespace {

constinit aos::user::Checks checks{"memtest", true};

using namespace aos::abi;
using aos::user::PagingFault;
using aos::user::PagingState;
using aos::user::PagingStats;

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;
constexpr std::uint64_t page = object_granule;
constexpr std::uint64_t lazy_bytes = 256 * mib;
constexpr unsigned touches = 32;
// 64 GiB into the paging window, 512 KiB below a 2 MiB boundary: a 1 MiB map there spans two L3 tables.
constexpr std::uint64_t fixed_va = PagingState::window_lo + (std::uint64_t{64} << 30) + 2 * mib - 512 * kib;
// What the fixed map holds: written when it is made, and again once protect made it writable again.
constexpr std::uint64_t fixed_salt = 0xa5;
constexpr std::uint64_t rewritten_salt = 0x3c;

// The caller's side of the figures: without what the paging state made for its own metadata.
struct Mine {
    std::size_t regions, tables, runs;
    std::uint64_t reserved, backed, ram;
    bool operator==(const Mine&) const = default;
};
Mine mine(const PagingStats& s) {
    return Mine{s.vaddr.regions,        s.tables - s.metadata_tables, s.runs - s.metadata_runs,
                s.vaddr.reserved_bytes, s.vaddr.backed_bytes,         s.ram_used - s.metadata_bytes};
}

template <class R>
void refused(const char* what, const R& r, aos::Errc want, PagingState& paging, const PagingStats& before) {
    checks.check(what, !r && r.error() == want && mine(paging.stats()) == mine(before) &&
                           paging.check_invariants());
    if (r || r.error() != want)
        aos::sys::print("memtest: {}: got {}\n", what, r ? aos::Errc{} : r.error());
}

void fill(std::uint64_t va, std::uint64_t bytes, std::uint64_t salt) {
    for (std::uint64_t off = 0; off < bytes; off += 512)
        *reinterpret_cast<volatile std::uint64_t*>(va + off) = (va + off) ^ salt;
}

bool holds(std::uint64_t va, std::uint64_t written_at, std::uint64_t bytes, std::uint64_t salt) {
    for (std::uint64_t off = 0; off < bytes; off += 512) {
        if (*reinterpret_cast<volatile std::uint64_t*>(va + off) != ((written_at + off) ^ salt))
            return false;
    }
    return true;
}

// A frame of `bytes` from RAM that init grants at a multiple of `align` (so that it can map as blocks), in
// two slots of `slots`: the grant's RAM capability and the frame retyped from all of it.
struct InitFrame {
    CapAddr ram;
    CapAddr frame;
};
aos::Result<InitFrame> frame_from_init(aos::user::SlotAllocator& slots, std::uint64_t bytes,
                                       std::uint64_t align) {
    aos::user::SlotAllocator::Slot ram_slot = AOS_TRY(slots.alloc());
    aos::user::SlotAllocator::Slot frame_slot = AOS_TRY(slots.alloc());
    aos::rpc::RamGrant ram = AOS_TRY(aos::rpc::get_ram(bytes, align, ram_slot.cnode, ram_slot.index));
    AOS_TRY(aos::sys::cap_retype(ram.cap, ObjType::frame, 0, bytes, 1, frame_slot.cnode, frame_slot.index));
    return InitFrame{ram.cap, frame_slot.addr()};
}

// A page frame of the paging state's RAM mapped read-write at a free address; the frame is in `frame`.
aos::Result<std::uint64_t> map_fresh_page(PagingState& paging, CapAddr& frame) {
    frame = AOS_TRY(paging.retype(ObjType::frame, page));
    return paging.map(frame, page, right_read | right_write);
}

// New rights in place (protect): the fixed map across two L3 tables made read-only and writable again,
// code written into a page of the map at `anywhere` then made executable and run, and the refusals.
// `read_only` maps a page from a read-only frame capability.
void protect(PagingState& paging, std::uint64_t anywhere, std::uint64_t read_only) {
    PagingStats before = paging.stats();
    std::uint64_t instructions_before = aos::sys::instructions(); // counted only under QEMU's -icount
    aos::Result<void> read_only_now = paging.protect(fixed_va, mib, right_read);
    std::uint64_t protect_instructions = aos::sys::instructions() - instructions_before;
    checks.check("the fixed map across two tables becomes read-only",
                 read_only_now && mine(paging.stats()) == mine(before) && paging.check_invariants());
    if (protect_instructions != 0)
        aos::sys::print("memtest: {} instructions to make a 1 MiB map across two tables read-only (the whole "
                        "system)\n",
                        protect_instructions);
    checks.check("and still holds what was written", holds(fixed_va, fixed_va, mib, fixed_salt));
    refused("new rights for nothing", paging.protect(fixed_va, 0, right_read), aos::Errc::zero_size, paging,
            before);
    refused("new rights at an unaligned address", paging.protect(fixed_va + 1, page, right_read),
            aos::Errc::misaligned, paging, before);
    refused("new rights where nothing is mapped", paging.protect(fixed_va + 8 * mib, page, right_read),
            aos::Errc::not_found, paging, before);
    refused("new rights past the mapping", paging.protect(fixed_va + mib - page, 2 * page, right_read),
            aos::Errc::out_of_range, paging, before);
    refused("new rights writable and executable",
            paging.protect(fixed_va, page, right_read | right_write | right_execute),
            aos::Errc::invalid_argument, paging, before);
    refused("new rights without read", paging.protect(fixed_va, page, right_write),
            aos::Errc::invalid_argument, paging, before);
    refused("new rights beyond the frame capability's",
            paging.protect(read_only, page, right_read | right_write), aos::Errc::permission_denied, paging,
            before);
    aos::Result<std::uint64_t> lazy = paging.reserve_lazy(PagingState::lazy_chunk);
    if (lazy) {
        PagingStats with_lazy = paging.stats();
        refused("new rights in a lazy reservation", paging.protect(*lazy, page, right_read),
                aos::Errc::invalid_argument, paging, with_lazy);
        checks.check("the lazy reservation goes", paging.unmap(*lazy).has_value());
    } else {
        checks.check("a lazy reservation to refuse", false);
    }
    checks.check("the fixed map becomes writable again",
                 paging.protect(fixed_va, mib, right_read | right_write).has_value());
    fill(fixed_va, mib, rewritten_salt);
    checks.check("and takes writes", holds(fixed_va, fixed_va, mib, rewritten_salt));

    // Code written through a writable mapping, then its page made executable (and so not writable).
    constexpr std::uint16_t answer = 42;
    std::uint64_t at = anywhere + 16 * page;
    aos::user::ReturnsValue run = aos::user::write_return_value(at, answer);
    checks.check("a page of written code becomes executable",
                 paging.protect(at, page, right_read | right_execute).has_value());
    checks.check("and the code runs", run() == answer);
    checks.check("the page becomes writable again",
                 paging.protect(at, page, right_read | right_write) && paging.check_invariants());
}

// Maps at free and fixed addresses, aliases one frame twice, and refuses what it must.
void fixed_and_free(PagingState& paging, aos::user::SlotAllocator& slots) {
    aos::Result<CapAddr> small = paging.retype(ObjType::frame, 256 * kib);
    aos::Result<CapAddr> big = paging.retype(ObjType::frame, mib);
    checks.check("frames for the test", small && big);
    if (!small || !big)
        return;
    PagingStats start = paging.stats();

    aos::Result<std::uint64_t> anywhere = paging.map(*small, 256 * kib, right_read | right_write);
    checks.check("map at a free address", anywhere && *anywhere >= PagingState::window_lo);
    if (anywhere) {
        fill(*anywhere, 256 * kib, 0x5a);
        checks.check("memory mapped at a free address holds what was written",
                     holds(*anywhere, *anywhere, 256 * kib, 0x5a));
    }
    PagingStats after_free = paging.stats();

    checks.check("map at a fixed address across two L3 tables",
                 paging.map_fixed(fixed_va, *big, mib, right_read | right_write).has_value());
    PagingStats after_fixed = paging.stats();
    checks.check("a fixed map across two L3 tables is two mapping capabilities",
                 after_fixed.runs == after_free.runs + 2);
    checks.check("and makes an L2 and two L3 tables", after_fixed.tables == after_free.tables + 3);
    fill(fixed_va, mib, fixed_salt);
    aos::Result<std::uint64_t> alias = paging.map(*big, mib, right_read);
    checks.check("the same frame mapped again, read-only", alias.has_value());
    if (alias)
        checks.check("both mappings show the same memory", holds(*alias, fixed_va, mib, fixed_salt));
    checks.check("invariants after the maps", paging.check_invariants());

    PagingStats before = paging.stats();
    refused("a fixed map over a mapped range", paging.map_fixed(fixed_va, *small, page, right_read),
            aos::Errc::overlap, paging, before);
    refused("a fixed map at an unaligned address",
            paging.map_fixed(fixed_va + 8 * mib + 1, *small, page, right_read), aos::Errc::misaligned, paging,
            before);
    refused("more bytes than the frame has", paging.map(*small, 512 * kib, right_read),
            aos::Errc::out_of_range, paging, before);
    refused("write and execute together", paging.map(*small, page, right_read | right_write | right_execute),
            aos::Errc::invalid_argument, paging, before);
    refused("a mapping without read", paging.map(*small, page, right_write), aos::Errc::invalid_argument,
            paging, before);
    refused("a RAM capability instead of a frame",
            paging.map(caddr(root_slot_task, task_slot_ram), page, right_read), aos::Errc::invalid_argument,
            paging, before);
    aos::Result<aos::user::SlotAllocator::Slot> ro = slots.alloc();
    if (ro && aos::sys::cap_mint(*small, ro->cnode, ro->index, right_read)) {
        refused("writing through a read-only frame capability",
                paging.map(ro->addr(), page, right_read | right_write), aos::Errc::permission_denied, paging,
                before);
    } else {
        checks.check("a read-only copy of a frame", false);
    }
    refused("unmapping where nothing starts", paging.unmap(fixed_va + page), aos::Errc::not_found, paging,
            before);
    aos::Result<std::uint64_t> ro_va =
        ro ? paging.map(ro->addr(), page, right_read) : aos::Result<std::uint64_t>(aos::error(ro.error()));
    checks.check("a read-only frame capability maps read-only", ro_va.has_value());
    if (anywhere && ro_va)
        protect(paging, *anywhere, *ro_va);
    else
        checks.check("the maps to give new rights", false);

    PagingStats before_unmap = paging.stats();
    checks.check("unmap the fixed mapping", paging.unmap(fixed_va).has_value());
    PagingStats after_unmap = paging.stats();
    checks.check("unmapping takes its two mapping capabilities", after_unmap.runs == before_unmap.runs - 2);
    checks.check("and deletes the three tables that became empty",
                 after_unmap.tables == before_unmap.tables - 3);
    checks.check("the frame's other mapping still holds it",
                 alias && holds(*alias, fixed_va, mib, rewritten_salt));
    checks.check("invariants after the unmap", paging.check_invariants());
    // Figures without the paging state's own metadata.
    aos::sys::print(
        "memtest: fixed and free maps: {} tables and {} mapping capabilities before, {} and {} with "
        "the fixed map, {} and {} after its unmap\n",
        mine(start).tables, mine(start).runs, mine(after_fixed).tables, mine(after_fixed).runs,
        mine(after_unmap).tables, mine(after_unmap).runs);
}

// Chunks of a lazy reservation given back (discard): refused ranges change nothing; a range may not cut a
// fixed map in two; the touched chunks' frames go, and their RAM with them; a page touched again is a fresh
// zeroed chunk. `region` is backed in `touched_chunks` chunks where it was touched and, in its last chunk
// (own_at), by a fixed map; `touched_at` is one of the touched pages.
void give_back(PagingState& paging, std::uint64_t region, std::uint64_t own_at, aos::Result<CapAddr> two,
               std::uint64_t touched_at, std::uint64_t touched_chunks) {
    constexpr std::uint64_t chunk = PagingState::lazy_chunk;
    PagingStats before = paging.stats();
    std::uint64_t touched_chunk = touched_at & ~(chunk - 1);
    refused("a discard of part of a chunk", paging.discard(touched_chunk, page), aos::Errc::misaligned,
            paging, before);
    refused("a discard of nothing", paging.discard(touched_chunk, 0), aos::Errc::zero_size, paging, before);
    refused("a discard running past the reservation", paging.discard(own_at, 2 * chunk),
            aos::Errc::out_of_range, paging, before);
    refused("a discard outside every reservation", paging.discard(region + lazy_bytes + 64 * mib, chunk),
            aos::Errc::not_found, paging, before);

    // A fixed map of two chunks into a small reservation within one L3 table is one mapping capability.
    aos::Result<std::uint64_t> small = paging.reserve_lazy(4 * chunk, 0, 2 * mib);
    bool mapped = two && small && paging.map_fixed(*small + chunk, *two, 2 * chunk, right_read | right_write);
    checks.check("a fixed map of two chunks into a small lazy reservation", mapped);
    if (mapped) {
        PagingStats fixed = paging.stats();
        refused("a discard that would cut the fixed map", paging.discard(*small, 2 * chunk),
                aos::Errc::invalid_argument, paging, fixed);
        refused("a discard that would cut its other end", paging.discard(*small + 2 * chunk, 2 * chunk),
                aos::Errc::invalid_argument, paging, fixed);
        aos::Result<std::uint64_t> all = paging.discard(*small, 4 * chunk);
        checks.check("a discard of all of it unmaps the fixed map; the frame stays the caller's",
                     all && *all == 2 * chunk && mine(paging.stats()).runs + 1 == mine(fixed).runs &&
                         mine(paging.stats()).backed + 2 * chunk == mine(fixed).backed &&
                         aos::sys::cap_identify(*two).has_value());
        checks.check("and the small reservation goes", paging.unmap(*small).has_value());
    }

    // Everything but the fixed map in the last chunk.
    before = paging.stats();
    std::uint64_t instructions_before = aos::sys::instructions(); // counted only under QEMU's -icount
    aos::Result<std::uint64_t> given = paging.discard(region, own_at - region);
    std::uint64_t discard_instructions = aos::sys::instructions() - instructions_before;
    checks.check("a discard of every touched chunk says what was backed",
                 given && *given == touched_chunks * chunk);
    PagingStats after = paging.stats();
    checks.check("their mapping capabilities and frames go, and their RAM comes back",
                 mine(after).runs + touched_chunks == mine(before).runs &&
                     mine(after).backed + touched_chunks * chunk == mine(before).backed &&
                     mine(after).ram + touched_chunks * chunk <= mine(before).ram &&
                     mine(after).reserved == mine(before).reserved);
    aos::Result<std::uint64_t> none = paging.discard(region, chunk);
    checks.check("a discard where nothing is backed changes nothing",
                 none && *none == 0 && mine(paging.stats()) == mine(after));
    checks.check("a page given back reads zero when touched again, a fresh chunk",
                 *reinterpret_cast<volatile std::uint64_t*>(touched_at) == 0 &&
                     paging.stats().faults == after.faults + 1);
    checks.check("invariants after the discards", paging.check_invariants());
    aos::sys::print("memtest: {} touched chunks given back, {} KiB of RAM with their tables\n",
                    touched_chunks, (mine(before).ram - mine(after).ram) / kib);
    if (discard_instructions != 0)
        aos::sys::print("memtest: {} instructions to give them back (the whole system)\n",
                        discard_instructions);
}

// A lazy reservation touched in random order, then unmapped: tables and RAM back where they were.
void lazy(PagingState& paging, std::uint64_t seed, bool touch_guard) {
    // Frames of the caller's for later, from the same RAM (before the figures the end is compared with).
    aos::Result<CapAddr> own = paging.retype(ObjType::frame, PagingState::lazy_chunk);
    aos::Result<CapAddr> two_chunks = paging.retype(ObjType::frame, 2 * PagingState::lazy_chunk);
    PagingStats start = paging.stats();
    aos::Result<std::uint64_t> region = paging.reserve_lazy(lazy_bytes, 1);
    checks.check("a lazy reservation of 256 MiB", region.has_value());
    if (!region)
        return;
    PagingStats reserved = paging.stats();
    checks.check("reserving backs nothing",
                 mine(reserved).tables == mine(start).tables && mine(reserved).runs == mine(start).runs &&
                     mine(reserved).ram == mine(start).ram && mine(reserved).backed == mine(start).backed);

    std::uint64_t pages[touches];
    aos::user::Rng rng{seed};
    std::uint64_t instructions_before = aos::sys::instructions(); // counted only under QEMU's -icount
    for (unsigned i = 0; i < touches; ++i) {
        pages[i] = rng.below((lazy_bytes - PagingState::lazy_chunk) / page); // not the last chunk
        *reinterpret_cast<volatile std::uint64_t*>(*region + pages[i] * page) = pages[i] * 0x9e3779b97f4a7c15;
    }
    std::uint64_t touch_instructions = aos::sys::instructions() - instructions_before;
    bool intact = true;
    for (unsigned i = 0; i < touches; ++i)
        intact = intact && *reinterpret_cast<volatile std::uint64_t*>(*region + pages[i] * page) ==
                               pages[i] * 0x9e3779b97f4a7c15;
    PagingStats touched = paging.stats();
    checks.check("touched pages hold what was written", intact);
    // One fault and one chunk for each distinct chunk the touches hit, no more.
    std::uint64_t chunks_hit = 0;
    for (unsigned i = 0; i < touches; ++i) {
        bool seen = false;
        for (unsigned j = 0; j < i; ++j)
            seen = seen ||
                   pages[j] * page / PagingState::lazy_chunk == pages[i] * page / PagingState::lazy_chunk;
        chunks_hit += seen ? 0 : 1;
    }
    checks.check("each distinct chunk touched faulted once and was backed",
                 touched.faults - start.faults == chunks_hit &&
                     mine(touched).backed - mine(start).backed == chunks_hit * PagingState::lazy_chunk);
    checks.check("invariants after the touches", paging.check_invariants());

    // Syndromes of a data abort from EL0: a level-3 translation fault, and a level-3 permission fault.
    namespace a64 = aos::arch::aarch64;
    constexpr std::uint64_t abort =
        a64::esr::Ec::make(static_cast<std::uint64_t>(a64::ExceptionClass::data_abort_lower));
    constexpr std::uint64_t translation = abort | a64::fsc::translation | 3;
    constexpr std::uint64_t permission = abort | a64::fsc::permission | 3;
    // The caller's own frame into the lazy reservation's last chunk: whole chunks only.
    std::uint64_t own_at = *region + lazy_bytes - PagingState::lazy_chunk;
    PagingStats before_own = paging.stats();
    if (own) {
        refused("a fixed map of part of a lazy chunk",
                paging.map_fixed(own_at, *own, page, right_read | right_write), aos::Errc::misaligned, paging,
                before_own);
        checks.check(
            "a fixed map of a whole chunk into the lazy reservation",
            paging.map_fixed(own_at, *own, PagingState::lazy_chunk, right_read | right_write).has_value());
        fill(own_at, PagingState::lazy_chunk, 0x77);
        checks.check("and it holds what was written", holds(own_at, own_at, PagingState::lazy_chunk, 0x77));
    } else {
        checks.check("a frame of one chunk", false);
    }
    touched = paging.stats();

    auto fault_says = [&](std::uint64_t at, PagingFault want, std::uint64_t esr = translation) {
        aos::Result<void, PagingFault> r = paging.handle_fault(at, esr);
        return !r && r.error() == want;
    };
    checks.check("a fault on the guard page is refused as such",
                 fault_says(*region - page, PagingFault::guard_page));
    checks.check("a fault on the null page is refused as such", fault_says(8, PagingFault::null_page));
    checks.check("a fault outside every reservation is refused",
                 fault_says(*region + lazy_bytes + 64 * mib, PagingFault::unreserved));
    checks.check("a permission fault on a backed page is a protection fault",
                 fault_says(*region + pages[0] * page, PagingFault::protection, permission));
    checks.check("a translation fault on a page backed meanwhile (another thread was first) is resolved",
                 paging.handle_fault(*region + pages[0] * page, translation).has_value());
    checks.check("refused faults change nothing", mine(paging.stats()) == mine(touched));
    give_back(paging, *region, own_at, two_chunks, *region + pages[0] * page, touched.faults - start.faults);

    if (touch_guard) {
        aos::sys::print("memtest: touching the guard page\n");
        *reinterpret_cast<volatile std::uint64_t*>(*region - 8) = 1;
        aos::sys::print("memtest: the guard page was writable (FAILED)\n");
        return;
    }

    instructions_before = aos::sys::instructions();
    checks.check("unmap the lazy reservation", paging.unmap(*region).has_value());
    std::uint64_t unmap_instructions = aos::sys::instructions() - instructions_before;
    PagingStats end = paging.stats();
    std::uint64_t kept = end.metadata_bytes - start.metadata_bytes;
    checks.check("every table it needed is deleted", mine(end).tables == mine(start).tables);
    checks.check("every mapping capability is deleted", mine(end).runs == mine(start).runs);
    checks.check("its RAM is back, but what the paging state's own metadata grew by",
                 end.ram_used == start.ram_used + kept);
    checks.check("and the address space", mine(end) == mine(start));
    checks.check("invariants after the unmap", paging.check_invariants());
    aos::sys::print(
        "memtest: {} pages touched in 256 MiB, {} chunks backed, contents {}; {} tables made, all "
        "deleted at unmap; RAM back but {} KiB kept for metadata\n",
        touches, touched.faults - start.faults, intact ? "intact" : "WRONG",
        mine(touched).tables - mine(start).tables, kept / kib);
    if (touch_instructions != 0 && touched.faults > start.faults)
        aos::sys::print(
            "memtest: {} instructions per touch that faulted (the whole system), {} to unmap all\n",
            touch_instructions / (touched.faults - start.faults), unmap_instructions);
}

// A frame of init's RAM at a 2 MiB boundary maps as two 2 MiB blocks (one run in an L2 table, no L3 table):
// it holds what is written, takes new rights for whole blocks only, and its unmap takes what it made.
void blocks(PagingState& paging, aos::user::SlotAllocator& slots) {
    constexpr std::uint64_t block = 2 * mib;
    constexpr std::uint64_t bytes = 2 * block;
    aos::Result<InitFrame> got = frame_from_init(slots, bytes, block);
    checks.check("a 4 MiB frame at a 2 MiB boundary from init", got.has_value());
    if (!got)
        return;
    CapAddr frame = got->frame;
    PagingStats start = paging.stats();
    aos::Result<std::uint64_t> at = paging.map(frame, bytes, right_read | right_write);
    checks.check("it maps at a 2 MiB boundary", at && (*at & (block - 1)) == 0);
    if (!at)
        return;
    PagingStats mapped = paging.stats();
    checks.check("as one mapping capability (pages would take two, one per L3 table)",
                 mine(mapped).runs == mine(start).runs + 1 && paging.check_invariants());
    fill(*at, bytes, 0x77);
    checks.check("the blocks hold what was written", holds(*at, *at, bytes, 0x77));
    refused("new rights for half a block", paging.protect(*at, block / 2, right_read),
            aos::Errc::invalid_argument, paging, mapped);
    refused("new rights past a block's start", paging.protect(*at + page, block, right_read),
            aos::Errc::invalid_argument, paging, mapped);
    checks.check("new rights for one whole block",
                 paging.protect(*at + block, block, right_read).has_value() && paging.check_invariants() &&
                     holds(*at, *at, bytes, 0x77));
    checks.check("and back", paging.protect(*at, bytes, right_read | right_write).has_value());
    fill(*at, bytes, 0x78);
    checks.check("the blocks take writes again", holds(*at, *at, bytes, 0x78));
    checks.check("the unmap takes the blocks and the tables made for them",
                 paging.unmap(*at).has_value() && mine(paging.stats()).runs == mine(start).runs &&
                     mine(paging.stats()).tables == mine(start).tables);
    aos::Result<std::uint64_t> paged =
        paging.map(frame, bytes, right_read | right_write, aos::vm::Blocks::forbidden);
    checks.check("mapped again with blocks forbidden, it is pages: a mapping capability per L3 table",
                 paged && mine(paging.stats()).runs >= mine(start).runs + 2);
    checks.check("which take new rights one page at a time",
                 paged && paging.protect(*paged + page, page, right_read).has_value() &&
                     paging.protect(*paged + page, page, right_read | right_write).has_value() &&
                     paging.unmap(*paged).has_value() && paging.check_invariants());
    (void)aos::sys::cap_delete(frame);
    (void)aos::sys::cap_delete(got->ram);
}

// A reservation of one L3 table's span, backed in every chunk, then unmapped: one table full of mapping
// runs, which go with the table (the figure printed is what that costs).
void dense(PagingState& paging) {
    constexpr std::uint64_t span = 2 * mib;
    constexpr std::uint64_t chunks = span / PagingState::lazy_chunk;
    PagingStats start = paging.stats();
    aos::Result<std::uint64_t> region = paging.reserve_lazy(span, 0, span);
    if (!region) {
        checks.check("a lazy reservation of one table's span", false);
        return;
    }
    for (std::uint64_t at = *region; at < *region + span; at += PagingState::lazy_chunk)
        *reinterpret_cast<volatile std::uint64_t*>(at) = at;
    checks.check("touching every chunk of it makes a mapping run each",
                 mine(paging.stats()).runs == mine(start).runs + chunks &&
                     mine(paging.stats()).backed == mine(start).backed + span);
    std::uint64_t instructions_before = aos::sys::instructions(); // counted only under QEMU's -icount
    aos::Result<void> unmapped = paging.unmap(*region);
    std::uint64_t unmap_instructions = aos::sys::instructions() - instructions_before;
    checks.check("its unmap takes every run and the table",
                 unmapped.has_value() && mine(paging.stats()) == mine(start) && paging.check_invariants());
    if (unmap_instructions != 0)
        aos::sys::print(
            "memtest: {} instructions to unmap {} chunks backed in one table (the whole system)\n",
            unmap_instructions, chunks);
}

} // namespace

// A whole GiB of init's RAM at a 1 GiB boundary, mapped at a 1 GiB boundary under an L1 table that is
// already there: one 1 GiB block, so no table is made; every page of it holds what is
// written; new rights go to the whole block only; the unmap takes it. Needs a free GiB at a 1 GiB
// boundary: a machine of 3 GiB.
int map_a_gib(PagingState& paging) {
    constexpr std::uint64_t gib = std::uint64_t{1} << 30;
    constexpr std::uint64_t va = PagingState::window_lo + 128 * gib;
    aos::user::SlotAllocator slots(root_slot_slot_alloc1);
    aos::Result<InitFrame> got = frame_from_init(slots, gib, gib);
    checks.check("a 1 GiB frame at a 1 GiB boundary from init", got.has_value());
    if (!got)
        return checks.finish();
    // A page mapped in the next GiB first, so that the L1 table is there: 2 MiB blocks would need an L2.
    aos::Result<CapAddr> neighbour = paging.retype(ObjType::frame, page);
    checks.check("a page mapped in the next GiB",
                 neighbour && paging.map_fixed(va + gib, *neighbour, page, right_read).has_value());
    PagingStats start = paging.stats();
    bool mapped = paging.map_fixed(va, got->frame, gib, right_read | right_write).has_value();
    checks.check("it maps as one block, and no table is made",
                 mapped && mine(paging.stats()).runs == mine(start).runs + 1 &&
                     mine(paging.stats()).tables == mine(start).tables && paging.check_invariants());
    if (!mapped)
        return checks.finish();
    for (std::uint64_t off = 0; off < gib; off += page)
        *reinterpret_cast<volatile std::uint64_t*>(va + off) = off ^ 0x1b;
    bool intact = true;
    for (std::uint64_t off = 0; off < gib; off += page)
        intact = intact && *reinterpret_cast<volatile std::uint64_t*>(va + off) == (off ^ 0x1b);
    checks.check("every page of it holds what was written", intact);
    PagingStats mapped_stats = paging.stats();
    refused("new rights for 2 MiB of it", paging.protect(va, 2 * mib, right_read),
            aos::Errc::invalid_argument, paging, mapped_stats);
    checks.check("new rights for the whole block and back",
                 paging.protect(va, gib, right_read) && paging.protect(va, gib, right_read | right_write) &&
                     paging.check_invariants());
    checks.check("the unmap takes it", paging.unmap(va) && mine(paging.stats()) == mine(start));
    aos::sys::print("memtest: a GiB mapped as one 1 GiB block, no table made, pages {}\n",
                    intact ? "intact" : "WRONG");
    return checks.finish();
}

// The last act of the modes that must be stopped: a write the heap's fault handler must refuse.
int write_must_stop(std::uint64_t at, const char* what) {
    aos::sys::print("memtest: {}\n", what);
    *reinterpret_cast<volatile std::uint64_t*>(at) = 1;
    aos::sys::print("memtest: the write went through (FAILED)\n");
    return 1;
}

// Writes to a 2 MiB block (of a frame from init's RAM) it made read-only: it must be stopped as for a page.
int write_read_only_block(PagingState& paging) {
    constexpr std::uint64_t block = 2 * mib;
    aos::user::SlotAllocator slots(root_slot_slot_alloc1);
    aos::Result<InitFrame> got = frame_from_init(slots, block, block);
    if (!got)
        return 1;
    PagingStats before = paging.stats();
    aos::Result<std::uint64_t> at = paging.map(got->frame, block, right_read | right_write);
    if (!at || mine(paging.stats()).runs != mine(before).runs + 1 || !paging.protect(*at, block, right_read))
        return 1;
    return write_must_stop(*at + block / 2, "writing to a 2 MiB block made read-only");
}

// Writes to a page it made read-only, after asking for write access back in ways that must be refused:
// the heap's fault handler must report the write and the process stop.
int write_read_only(PagingState& paging) {
    CapAddr frame = 0;
    aos::Result<std::uint64_t> at = map_fresh_page(paging, frame);
    if (!at || !paging.protect(*at, page, right_read))
        return 1;
    if (paging.protect(*at, 2 * page, right_read | right_write) ||
        paging.protect(*at, page, right_read | right_write | right_execute)) {
        aos::sys::print("memtest: a refused protect was accepted (FAILED)\n");
        return 1;
    }
    return write_must_stop(*at, "writing to a page made read-only");
}

// Breaks the contract on purpose: deletes the only capability of a frame that is mapped, then touches it.
// The kernel removed the mapping with the capability; the paging state must report that, not resume the
// access forever.
// New rights for the page must be refused first: its mapping went with the capability.
int frame_gone(PagingState& paging) {
    CapAddr frame = 0;
    aos::Result<std::uint64_t> at = map_fresh_page(paging, frame);
    if (!at || !aos::sys::cap_delete(frame))
        return 1;
    if (aos::Result<void> p = paging.protect(*at, page, right_read); p || p.error() != aos::Errc::not_found) {
        aos::sys::print("memtest: new rights for a page whose mapping is gone were not refused (FAILED)\n");
        return 1;
    }
    return write_must_stop(*at, "touching a page whose frame capability is gone");
}

int main(int argc, char** argv) {
    aos::core::StringRef mode = aos::core::StringRef::from_c_str(argc > 1 ? argv[1] : "");
    bool touch_guard = mode.equals("guard");
    bool gone = mode.equals("gone");
    bool read_only = mode.equals("readonly");
    bool read_only_block = mode.equals("blockro");
    bool gib = mode.equals("gib");
    std::uint64_t seed = aos::user::seed_from(
        argc > 1 && !touch_guard && !gone && !read_only && !read_only_block && !gib ? argv[1] : nullptr);
    aos::sys::print("memtest: seed {}\n", seed);
    if (aos::Result<void> r = aos::heap::init(); !r) {
        aos::sys::print("memtest: no paging state: {}\n", r.error());
        return 1;
    }
    PagingState& paging = *aos::heap::paging();
    if (gone)
        return frame_gone(paging);
    if (read_only)
        return write_read_only(paging);
    if (read_only_block)
        return write_read_only_block(paging);
    if (gib)
        return map_a_gib(paging);
    aos::user::SlotAllocator slots(root_slot_slot_alloc1);
    fixed_and_free(paging, slots);
    blocks(paging, slots);
    dense(paging);
    lazy(paging, seed, touch_guard);
    return checks.finish();
}
