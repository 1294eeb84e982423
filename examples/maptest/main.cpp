// A test init for VNode capabilities: builds a page-table path from RAM (L1, L2, L3 tables and a frame),
// maps it into its own address space, uses the memory, checks every refused map with its argument number,
// changes the rights of mapped pages (read-only, then code made executable and run), maps a 2 MiB block,
// and shows that deleting a table or a frame unmaps it. Its last act touches the unmapped page: the kernel
// must stop it with a data abort report.
#include "caps.hpp"
#include "checks.hpp"
#include "code.hpp"
#include "print.hpp"

#include <aos/arch/aarch64/pl031.hpp>

namespace {

constinit aos::user::Checks checks{"maptest"};

using namespace aos::abi;
using aos::Errc;
using aos::sys::InvokeResult;

constexpr std::uint64_t page = object_granule;
constexpr CNodeRef alloc = root_slot_slot_alloc0;
constexpr CapAddr ram = caddr(root_slot_super, 0);
constexpr CapAddr l0 = caddr(root_slot_task, task_slot_root_vnode);
// Slots in the alloc CNode.
constexpr std::uint32_t l1_slot = 0, l2_slot = 1, l3_slot = 2, frame_slot = 3, ro_frame_slot = 4,
                        new_l3_slot = 5;
constexpr std::uint32_t spare_l1_slot = 6, spare_l2_slot = 7; // tables never mapped
constexpr std::uint32_t block_slot = 8;
constexpr std::uint32_t l1_map = 10, l2_map = 11, l3_map = 12, frame_map = 13, spare_map = 14, block_map = 15;
constexpr std::uint32_t frame_pages = 4;
// L0 entry 1: the second 512 GiB, which the kernel left empty.
constexpr std::uint32_t l0_entry = 1;
constexpr std::uint64_t base_va = std::uint64_t{l0_entry} << 39;

bool empty(CapAddr a) {
    auto id = aos::sys::cap_identify(a);
    return !id && id.error() == Errc::not_found;
}

InvokeResult map(CapAddr table, CapAddr src, std::uint32_t first, std::uint32_t count,
                 std::uint64_t offset_rights, std::uint32_t slot) {
    return aos::sys::invoke(table, CapOp::vnode_map, src, map_entries(first, count), offset_rights,
                            destination(alloc, slot));
}

volatile std::uint64_t* mapped_words() {
    return reinterpret_cast<volatile std::uint64_t*>(base_va);
}

// Writes a pattern over the mapped pages and reads it back.
bool memory_works(std::uint64_t salt) {
    constexpr std::uint64_t words = frame_pages * page / sizeof(std::uint64_t);
    volatile std::uint64_t* w = mapped_words();
    for (std::uint64_t i = 0; i < words; i += 64)
        w[i] = i * 0x9e3779b97f4a7c15 + salt;
    for (std::uint64_t i = 0; i < words; i += 64) {
        if (w[i] != i * 0x9e3779b97f4a7c15 + salt)
            return false;
    }
    return true;
}

void build_and_use() {
    using aos::sys::cap_retype;
    checks.check("retype L1, L2 and L3 tables",
                 cap_retype(ram, ObjType::vnode_l1, 0, page, 1, alloc, l1_slot) &&
                     cap_retype(ram, ObjType::vnode_l2, page, page, 1, alloc, l2_slot) &&
                     cap_retype(ram, ObjType::vnode_l3, 2 * page, page, 1, alloc, l3_slot));
    checks.check(
        "retype a four-page frame",
        cap_retype(ram, ObjType::frame, 16 * page, frame_pages * page, 1, alloc, frame_slot).has_value());
    checks.check("map L1 into the root table",
                 map(l0, caddr(alloc, l1_slot), l0_entry, 1, 0, l1_map).error == 0);
    checks.check("map L2 into L1",
                 map(caddr(alloc, l1_slot), caddr(alloc, l2_slot), 0, 1, 0, l2_map).error == 0);
    checks.check("map L3 into L2",
                 map(caddr(alloc, l2_slot), caddr(alloc, l3_slot), 0, 1, 0, l3_map).error == 0);
    checks.check("map the frame read-write",
                 aos::sys::vnode_map(caddr(alloc, l3_slot), caddr(alloc, frame_slot), 0, frame_pages, 0,
                                     right_read | right_write, alloc, frame_map)
                     .has_value());
    checks.check("the mapped memory reads back what was written", memory_works(1));
    auto id = aos::sys::cap_identify(caddr(alloc, frame_map));
    auto frame = aos::sys::cap_identify(caddr(alloc, frame_slot));
    checks.check("the mapping capability names the frame", id && frame && id->type == ObjType::mapping &&
                                                               id->base == frame->base &&
                                                               id->size == frame->size);
    // The kernel checks user buffers with the MMU, so text in self-mapped memory prints.
    const char text[] = "maptest: printed from self-mapped memory\n";
    auto* dst = reinterpret_cast<volatile char*>(base_va + page);
    for (std::size_t i = 0; i + 1 < sizeof(text); ++i)
        dst[i] = text[i];
    checks.check(
        "debug_print reads self-mapped memory",
        aos::sys::debug_print(reinterpret_cast<const char*>(base_va + page), sizeof(text) - 1).has_value());
}

void bad_maps() {
    CapAddr l1 = caddr(alloc, l1_slot), l2 = caddr(alloc, l2_slot), l3 = caddr(alloc, l3_slot);
    CapAddr fr = caddr(alloc, frame_slot);
    checks.refused("map over mapped entries", map(l3, fr, 2, 1, right_read, spare_map), Errc::already_exists,
                   3);
    CapAddr spare_l1 = caddr(alloc, spare_l1_slot), spare_l2 = caddr(alloc, spare_l2_slot);
    checks.check("retype two tables to try",
                 aos::sys::cap_retype(ram, ObjType::vnode_l1, 4 * page, page, 1, alloc, spare_l1_slot) &&
                     aos::sys::cap_retype(ram, ObjType::vnode_l2, 5 * page, page, 1, alloc, spare_l2_slot));
    checks.refused("map over the kernel's entries", map(l0, spare_l1, 0, 1, 0, spare_map),
                   Errc::already_exists, 3);
    checks.refused("map writable and executable",
                   map(l3, fr, 8, 1, right_read | right_write | right_execute, spare_map),
                   Errc::invalid_argument, 4);
    checks.refused("map without read", map(l3, fr, 8, 1, right_write, spare_map), Errc::invalid_argument, 4);
    checks.check("mint a read-only frame",
                 aos::sys::cap_mint(fr, alloc, ro_frame_slot, right_read).has_value());
    checks.refused("map more rights than the capability",
                   map(l3, caddr(alloc, ro_frame_slot), 8, 1, right_read | right_write, spare_map),
                   Errc::permission_denied, 4);
    checks.refused("map a frame not aligned to 2 MiB as a block of an L2 table",
                   map(l2, fr, 8, 1, right_read, spare_map), Errc::misaligned, 4);
    checks.refused("map a frame into the root table (no blocks at L0)",
                   map(l0, fr, 8, 1, right_read, spare_map), Errc::invalid_argument, 2);
    checks.refused("map an L3 table into L1", map(l1, l3, 8, 1, 0, spare_map), Errc::invalid_argument, 2);
    checks.refused("map a table twice", map(l1, l2, 8, 1, 0, spare_map), Errc::busy, 2);
    checks.refused("map past the table's end", map(l3, fr, 510, 4, right_read, spare_map), Errc::out_of_range,
                   3);
    checks.refused("map a table at two entries", map(l1, spare_l2, 8, 2, 0, spare_map), Errc::out_of_range,
                   3);
    checks.refused("map a table with rights", map(l1, spare_l2, 8, 1, right_read, spare_map),
                   Errc::invalid_argument, 4);
    checks.refused("map past the frame's end", map(l3, fr, 8, 1, frame_pages * page | right_read, spare_map),
                   Errc::out_of_range, 4);
    checks.refused(
        "map a frame as a table",
        aos::sys::invoke(fr, CapOp::vnode_map, l3, map_entries(0, 1), 0, destination(alloc, spare_map)),
        Errc::invalid_argument, 1);
    checks.refused("map into an occupied slot", map(l3, fr, 8, 1, right_read, frame_slot),
                   Errc::already_exists, 5);
    checks.refused("copy a mapping capability",
                   aos::sys::invoke(caddr(alloc, frame_map), CapOp::copy, destination(alloc, spare_map)),
                   Errc::invalid_argument, 0);
    checks.check("refused maps left no mapping capability", empty(caddr(alloc, spare_map)));
    checks.check("delete the tables never mapped",
                 aos::sys::cap_delete(spare_l1) && aos::sys::cap_delete(spare_l2));
    checks.check(
        "the read-only copy maps read-only",
        aos::sys::vnode_map(l3, caddr(alloc, ro_frame_slot), 8, 1, 2 * page, right_read, alloc, spare_map)
            .has_value());
    checks.check("and reads what the writable mapping wrote",
                 *reinterpret_cast<volatile std::uint64_t*>(base_va + 8 * page) ==
                     mapped_words()[2 * page / 8]);
    checks.check("deleting the mapping capability unmaps",
                 aos::sys::cap_delete(caddr(alloc, spare_map)).has_value() && empty(caddr(alloc, spare_map)));
    checks.check("the entry can be mapped again", map(l3, fr, 8, 1, right_read, spare_map).error == 0 &&
                                                      aos::sys::cap_delete(caddr(alloc, spare_map)));
}

InvokeResult protect(CapAddr mapping, std::uint32_t first, std::uint32_t count, std::uint64_t rights) {
    return aos::sys::invoke(mapping, CapOp::mapping_protect, rights, map_entries(first, count));
}

// New rights for mapped pages, in place (mapping_protect): a page made read-only and writable again, code
// written into a page that then becomes executable and runs (W^X), and every refusal with its argument.
void protect_pages() {
    CapAddr fm = caddr(alloc, frame_map);
    auto id = aos::sys::cap_identify(fm);
    auto frame = aos::sys::cap_identify(caddr(alloc, frame_slot));
    checks.check("a frame's mapping has the rights of the frame capability",
                 id && frame && id->rights == frame->rights);
    volatile std::uint64_t* third = mapped_words() + 2 * page / 8;
    std::uint64_t kept = *third;
    checks.check("its third page becomes read-only", protect(fm, 2, 1, right_read).error == 0);
    checks.check("and still reads what it held", *third == kept);

    checks.refused("protect writable and executable",
                   protect(fm, 2, 1, right_read | right_write | right_execute), Errc::invalid_argument, 2);
    checks.refused("protect without read", protect(fm, 2, 1, right_write), Errc::invalid_argument, 2);
    checks.refused("protect past the mapping's pages", protect(fm, 3, 2, right_read), Errc::out_of_range, 3);
    checks.refused("protect no pages", protect(fm, 0, 0, right_read), Errc::out_of_range, 3);
    checks.refused("protect a table's mapping", protect(caddr(alloc, l3_map), 0, 1, right_read),
                   Errc::invalid_argument, 0);
    checks.refused("protect through the frame capability",
                   protect(caddr(alloc, frame_slot), 0, 1, right_read), Errc::invalid_argument, 1);
    checks.check("map the read-only copy read-only",
                 aos::sys::vnode_map(caddr(alloc, l3_slot), caddr(alloc, ro_frame_slot), 8, 1, 0, right_read,
                                     alloc, spare_map)
                     .has_value());
    checks.refused("protect its mapping writable",
                   protect(caddr(alloc, spare_map), 0, 1, right_read | right_write), Errc::permission_denied,
                   2);
    checks.check("delete that mapping", aos::sys::cap_delete(caddr(alloc, spare_map)).has_value());

    checks.check("the third page becomes writable again",
                 protect(fm, 2, 1, right_read | right_write).error == 0);
    checks.check("and every page takes writes", memory_works(4));

    // Code written through the writable mapping, then the page made executable (and so not writable).
    constexpr std::uint16_t answer = 42;
    aos::user::ReturnsValue run = aos::user::write_return_value(base_va + 3 * page, answer);
    checks.check("the fourth page becomes executable",
                 protect(fm, 3, 1, right_read | right_execute).error == 0);
    checks.check("the code written there runs", run() == answer);
    checks.check("and the page becomes writable again",
                 protect(fm, 3, 1, right_read | right_write).error == 0 && memory_works(5));
}

// A 2 MiB frame mapped as one block of the L2 table (no L3 table under it): used, given new rights, refused
// where it does not fit, and unmapped by deleting its mapping capability.
void map_a_block() {
    constexpr std::uint64_t block = std::uint64_t{2} << 20;
    constexpr std::uint32_t block_entry = 4; // of the L2 table: 8 MiB into the mapped window
    CapAddr l2 = caddr(alloc, l2_slot), blk = caddr(alloc, block_slot), bm = caddr(alloc, block_map);
    auto ram_id = aos::sys::cap_identify(ram);
    // Past everything the test retyped so far, at a physical address that is a multiple of 2 MiB.
    std::uint64_t offset =
        ram_id ? ((ram_id->base + 64 * page + block - 1) & ~(block - 1)) - ram_id->base : 0;
    checks.check("retype a 2 MiB frame at a 2 MiB boundary",
                 ram_id && aos::sys::cap_retype(ram, ObjType::frame, offset, block, 1, alloc, block_slot));
    checks.refused("map it at an offset that is no block boundary",
                   map(l2, blk, block_entry, 1, page | right_read, block_map), Errc::misaligned, 4);
    checks.refused("map two blocks of it", map(l2, blk, block_entry, 2, right_read, block_map),
                   Errc::out_of_range, 4);
    checks.check("map it as a block",
                 map(l2, blk, block_entry, 1, right_read | right_write, block_map).error == 0);
    auto* words = reinterpret_cast<volatile std::uint64_t*>(base_va + block_entry * block);
    constexpr std::uint64_t stride = page / sizeof(std::uint64_t); // a word per page
    for (std::uint64_t i = 0; i < block / sizeof(std::uint64_t); i += stride)
        words[i] = i ^ 0x5bd1e995;
    bool intact = true;
    for (std::uint64_t i = 0; i < block / sizeof(std::uint64_t); i += stride)
        intact = intact && words[i] == (i ^ 0x5bd1e995);
    checks.check("every page of the block holds what was written", intact);
    checks.check("the block becomes read-only and still reads",
                 protect(bm, 0, 1, right_read).error == 0 && words[stride] == (stride ^ 0x5bd1e995));
    checks.check("and writable again", protect(bm, 0, 1, right_read | right_write).error == 0);
    words[0] = 7;
    checks.check("and takes a write", words[0] == 7);
    checks.check("deleting its mapping capability unmaps it",
                 aos::sys::cap_delete(bm).has_value() && empty(bm));
    checks.check("delete the block's frame", aos::sys::cap_delete(blk).has_value());
}

// Deleting the L3 table's only capability takes the frame's mapping into it and its own mapping in L2 with
// it; a new L3 table then takes its place.
void replace_the_l3_table() {
    std::uint64_t first_word = mapped_words()[0];
    checks.check("delete the L3 table", aos::sys::cap_delete(caddr(alloc, l3_slot)).has_value());
    checks.check("its mappings went with it", empty(caddr(alloc, frame_map)) && empty(caddr(alloc, l3_map)));
    checks.check("retype and map a new L3 table",
                 aos::sys::cap_retype(ram, ObjType::vnode_l3, 3 * page, page, 1, alloc, new_l3_slot) &&
                     map(caddr(alloc, l2_slot), caddr(alloc, new_l3_slot), 0, 1, 0, l3_map).error == 0);
    checks.check("map the frame again", map(caddr(alloc, new_l3_slot), caddr(alloc, frame_slot), 0,
                                            frame_pages, right_read | right_write, frame_map)
                                                .error == 0);
    checks.check("the memory kept its contents and still works",
                 mapped_words()[0] == first_word && memory_works(2));
}

} // namespace

int main() {
    if (aos::sys::require_bootinfo("maptest") == nullptr)
        return 2;
    build_and_use();
    bad_maps();
    protect_pages();
    map_a_block();
    replace_the_l3_table();
    checks.check("delete both frame capabilities", aos::sys::cap_delete(caddr(alloc, ro_frame_slot)) &&
                                                       aos::sys::cap_delete(caddr(alloc, frame_slot)));
    checks.check("the last one unmapped the frame", empty(caddr(alloc, frame_map)));
    // A device frame: the real-time clock the kernel handed over, mapped (as device memory) and read.
    CapAddr rtc = caddr(root_slot_devices, device_slot_rtc);
    aos::Result<aos::sys::CapIdentity> rtc_id = aos::sys::cap_identify(rtc);
    checks.check("a DevFrame for the RTC", rtc_id && rtc_id->type == ObjType::dev_frame);
    checks.refused("retype a device frame",
                   aos::sys::invoke(rtc, CapOp::retype, retype_type_count(ObjType::frame, 1), 0, page,
                                    destination(alloc, spare_map)),
                   Errc::invalid_argument, 1);
    checks.refused("map a device frame executable",
                   map(caddr(alloc, new_l3_slot), rtc, 100, 1, right_read | right_execute, spare_map),
                   Errc::invalid_argument, 4);
    checks.check("map it", map(caddr(alloc, new_l3_slot), rtc, 100, 1, right_read, spare_map).error == 0);
    checks.refused("make it executable", protect(caddr(alloc, spare_map), 0, 1, right_read | right_execute),
                   Errc::invalid_argument, 2);
    std::uint32_t seconds =
        *reinterpret_cast<volatile std::uint32_t*>(base_va + 100 * page + aos::arch::aarch64::pl031::rtcdr);
    aos::sys::print("maptest: the RTC says {} seconds since 1970\n", seconds);
    checks.check("it reads a plausible time (after 2020)", seconds > 1'577'836'800);
    checks.check("unmap it", aos::sys::cap_delete(caddr(alloc, spare_map)).has_value());

    // Map it again from a fresh frame, then revoke the RAM everything came from: tables, frame and every
    // mapping capability go, and the L0 entry the L1 table had is cleared.
    checks.check(
        "a fresh frame mapped again",
        aos::sys::cap_retype(ram, ObjType::frame, 32 * page, frame_pages * page, 1, alloc, frame_slot) &&
            map(caddr(alloc, new_l3_slot), caddr(alloc, frame_slot), 0, frame_pages, right_read | right_write,
                frame_map)
                    .error == 0 &&
            memory_works(3));
    aos::Result<std::uint64_t> gone = aos::sys::cap_revoke(ram);
    checks.check("revoke takes the tables, the frame and their mappings",
                 gone && empty(caddr(alloc, l1_slot)) && empty(caddr(alloc, new_l3_slot)) &&
                     empty(caddr(alloc, frame_slot)) && empty(caddr(alloc, l1_map)) &&
                     empty(caddr(alloc, l3_map)) && empty(caddr(alloc, frame_map)));
    aos::sys::print("maptest: revoke deleted {} capabilities\n", gone ? *gone : 0);
    (void)checks.finish(); // the last step faults: the count is printed first
    aos::sys::print("maptest: touching the unmapped page\n");
    std::uint64_t v = mapped_words()[0];
    aos::sys::print("maptest: read {} from an unmapped page (FAILED)\n", v);
    return 1;
}
