// A test init for the capability invocations: identify, retype, copy, mint, delete and revoke on the RAM
// capabilities the kernel hands init, each bad argument refused with the error and argument number the ABI
// documents, and CNodes destroyed with everything in them. Prints one line per check and a summary.
#include "caps.hpp"
#include "checks.hpp"
#include "print.hpp"

namespace {

constinit aos::user::Checks checks{"captest"};

using namespace aos::abi;
using aos::Errc;
using aos::sys::CapIdentity;
using aos::sys::InvokeResult;

constexpr std::uint64_t page = object_granule;
constexpr CNodeRef alloc = root_slot_slot_alloc0; // the empty L2 CNode every process gets
constexpr CapAddr ram = caddr(root_slot_super, 0);
constexpr CapAddr task_dispatcher = caddr(root_slot_task, task_slot_dispatcher);
constexpr CapAddr task_root = caddr(root_slot_task, task_slot_root);

bool is(aos::Result<CapIdentity> id, ObjType type, std::uint64_t base, std::uint64_t size) {
    return id && id->type == type && id->base == base && id->size == size;
}

bool empty(CapAddr a) {
    aos::Result<CapIdentity> id = aos::sys::cap_identify(a);
    return !id && id.error() == Errc::not_found;
}

InvokeResult retype(CapAddr src, std::uint64_t type_count, std::uint64_t offset, std::uint64_t size,
                    std::uint64_t dest) {
    return aos::sys::invoke(src, CapOp::retype, type_count, offset, size, dest);
}

void identify_what_the_kernel_gave(const BootInfo& bi) {
    aos::Result<CapIdentity> self = aos::sys::cap_identify(task_dispatcher);
    checks.check("own dispatcher capability",
                 self && self->type == ObjType::dispatcher && self->rights == rights_all);
    aos::Result<CapIdentity> root = aos::sys::cap_identify(task_root);
    checks.check("root CNode capability",
                 root && root->type == ObjType::l1_cnode && root->size % cte_size == 0);
    checks.check("one RAM capability per free region",
                 is(aos::sys::cap_identify(ram), ObjType::ram, bi.free_ram[0].base, bi.free_ram[0].size));
    checks.check("the alloc CNode in its root slot",
                 aos::sys::cap_identify(root_slot_caddr(alloc)) &&
                     aos::sys::cap_identify(root_slot_caddr(alloc))->type == ObjType::l2_cnode);
    checks.check("an empty slot is not found", empty(caddr(alloc, 0)));
}

void bad_addresses_and_operations() {
    using aos::sys::invoke;
    checks.refused("address beyond the root CNode", invoke(caddr(1000, 0), CapOp::identify),
                   Errc::out_of_range, 0);
    checks.refused("address with stray high bits", invoke(std::uint64_t{1} << 40, CapOp::identify),
                   Errc::out_of_range, 0);
    checks.refused("root slot without an L2 CNode", invoke(caddr(9, 0), CapOp::identify), Errc::not_found, 0);
    checks.refused("empty slot", invoke(caddr(alloc, 7), CapOp::remove), Errc::not_found, 0);
    checks.refused("unknown operation", invoke(ram, static_cast<CapOp>(999)), Errc::invalid_argument, 1);
    checks.refused("dispatcher operation on RAM", invoke(ram, CapOp::dispatcher_stop), Errc::invalid_argument,
                   1);
    checks.refused("start a running dispatcher", invoke(task_dispatcher, CapOp::dispatcher_start),
                   Errc::invalid_state, 0);
}

void bad_retypes(std::uint64_t ram_size) {
    std::uint64_t frame1 = retype_type_count(ObjType::frame, 1);
    std::uint64_t to_alloc = destination(alloc, 0);
    checks.refused("retype: count 0", retype(ram, retype_type_count(ObjType::frame, 0), 0, page, to_alloc),
                   Errc::out_of_range, 2);
    checks.refused("retype: unknown type", retype(ram, 99, 0, page, to_alloc), Errc::invalid_argument, 2);
    checks.refused("retype: RAM into a device frame",
                   retype(ram, retype_type_count(ObjType::dev_frame, 1), 0, page, to_alloc),
                   Errc::unsupported, 2);
    checks.refused("retype: misaligned offset", retype(ram, frame1, 100, page, to_alloc), Errc::misaligned,
                   3);
    checks.refused("retype: size 0", retype(ram, frame1, 0, 0, to_alloc), Errc::zero_size, 4);
    checks.refused("retype: size not whole pages", retype(ram, frame1, 0, page + 8, to_alloc),
                   Errc::invalid_argument, 4);
    checks.refused("retype: L2 CNode of the wrong size",
                   retype(ram, retype_type_count(ObjType::l2_cnode, 1), 0, page, to_alloc),
                   Errc::invalid_argument, 4);
    checks.refused("retype: beyond the source", retype(ram, frame1, ram_size, page, to_alloc),
                   Errc::out_of_range, 3);
    checks.refused("retype: more than the source", retype(ram, frame1, 0, ram_size + page, to_alloc),
                   Errc::out_of_range, 4);
    checks.refused("retype: slot beyond the CNode", retype(ram, frame1, 0, page, destination(alloc, 300)),
                   Errc::out_of_range, 5);
    checks.refused(
        "retype: range past the CNode's end",
        retype(ram, retype_type_count(ObjType::frame, 2), 0, page, destination(alloc, l2_cnode_slots - 1)),
        Errc::out_of_range, 5);
    checks.refused("retype: no CNode in that root slot", retype(ram, frame1, 0, page, destination(9, 0)),
                   Errc::not_found, 5);
    checks.refused("retype: a frame into the root CNode",
                   retype(ram, frame1, 0, page, destination(cnode_root, 9)), Errc::invalid_argument, 5);
    checks.check("no refused retype left anything behind", empty(caddr(alloc, 0)) && empty(caddr(alloc, 1)));
}

void retype_copy_mint_revoke(std::uint64_t ram_base, std::uint64_t ram_size) {
    using aos::sys::cap_identify;
    checks.check("retype four frames",
                 aos::sys::cap_retype(ram, ObjType::frame, 0, page, 4, alloc, 0).has_value());
    checks.check("the third frame's range",
                 is(cap_identify(caddr(alloc, 2)), ObjType::frame, ram_base + 2 * page, page));
    checks.refused("retype over existing frames",
                   retype(ram, retype_type_count(ObjType::frame, 1), page, page, destination(alloc, 10)),
                   Errc::overlap, 3);
    checks.refused("retype into occupied slots",
                   retype(ram, retype_type_count(ObjType::frame, 1), 8 * page, page, destination(alloc, 3)),
                   Errc::already_exists, 5);
    checks.refused(
        "retype a frame",
        retype(caddr(alloc, 0), retype_type_count(ObjType::frame, 1), 0, page, destination(alloc, 10)),
        Errc::invalid_argument, 1);
    checks.check("copy a frame", aos::sys::cap_copy(caddr(alloc, 1), alloc, 10).has_value());
    checks.check("the copy names the same frame",
                 is(cap_identify(caddr(alloc, 10)), ObjType::frame, ram_base + page, page));
    checks.refused("copy into an occupied slot",
                   aos::sys::invoke(caddr(alloc, 1), CapOp::copy, destination(alloc, 2)),
                   Errc::already_exists, 2);
    checks.check("mint a read-only copy",
                 aos::sys::cap_mint(caddr(alloc, 1), alloc, 11, right_read).has_value());
    aos::Result<CapIdentity> ro = cap_identify(caddr(alloc, 11));
    checks.check("the minted copy is read-only", ro && ro->rights == right_read);
    checks.refused("mint a badge on a frame",
                   aos::sys::invoke(caddr(alloc, 1), CapOp::mint, destination(alloc, 12), rights_all, 42),
                   Errc::invalid_argument, 4);
    checks.check("mint a read-only RAM capability",
                 aos::sys::cap_mint(ram, alloc, 12, right_read).has_value());
    checks.refused("retype without the write right",
                   retype(caddr(alloc, 12), retype_type_count(ObjType::frame, 1), 16 * page, page,
                          destination(alloc, 13)),
                   Errc::permission_denied, 0);
    checks.check("delete the read-only RAM copy",
                 aos::sys::cap_delete(caddr(alloc, 12)).has_value() && empty(caddr(alloc, 12)));
    aos::Result<std::uint64_t> n = aos::sys::cap_revoke(ram);
    checks.check("revoke removes the four frames and the two copies", n && *n == 6);
    checks.check("revoke emptied their slots", empty(caddr(alloc, 0)) && empty(caddr(alloc, 3)) &&
                                                   empty(caddr(alloc, 10)) && empty(caddr(alloc, 11)));
    checks.check("the RAM capability itself stays", is(cap_identify(ram), ObjType::ram, ram_base,
                                                       ram_size)); // whole: revoke took only descendants
    checks.check("the range can be retyped again",
                 aos::sys::cap_retype(ram, ObjType::frame, 0, page, 1, alloc, 0) &&
                     aos::sys::cap_delete(caddr(alloc, 0)));
}

// A CNode made from RAM, used through a root slot, and deleted with what it holds: the frames in it leave the
// mapping database, so their range is free to retype again.
void cnodes_from_ram(std::uint64_t ram_base) {
    using aos::sys::cap_identify;
    constexpr std::uint32_t a_slot = 10, b_slot = 11; // root slots the kernel left empty
    constexpr std::uint64_t cnodes_at = 64 * page;
    checks.check(
        "retype two L2 CNodes",
        aos::sys::cap_retype(ram, ObjType::l2_cnode, cnodes_at, l2_cnode_bytes, 2, alloc, 20).has_value());
    checks.check("move CNode A into a root slot", aos::sys::cap_copy(caddr(alloc, 20), cnode_root, a_slot) &&
                                                      aos::sys::cap_delete(caddr(alloc, 20)));
    checks.check("move CNode B into a root slot", aos::sys::cap_copy(caddr(alloc, 21), cnode_root, b_slot) &&
                                                      aos::sys::cap_delete(caddr(alloc, 21)));
    checks.check("retype frames into CNode B",
                 aos::sys::cap_retype(ram, ObjType::frame, 0, page, 3, b_slot, 0).has_value());
    checks.check("a frame in CNode B",
                 is(cap_identify(caddr(b_slot, 1)), ObjType::frame, ram_base + page, page));
    // A holds the only capability to B; B holds the frames. Deleting A's last capability empties both.
    checks.check("put B's last capability into A", aos::sys::cap_copy(root_slot_caddr(b_slot), a_slot, 5) &&
                                                       aos::sys::cap_delete(root_slot_caddr(b_slot)));
    checks.check("B is reachable only through A",
                 empty(caddr(b_slot, 1)) && cap_identify(caddr(a_slot, 5)) &&
                     cap_identify(caddr(a_slot, 5))->type == ObjType::l2_cnode);
    checks.check("delete A",
                 aos::sys::cap_delete(root_slot_caddr(a_slot)).has_value() && empty(root_slot_caddr(a_slot)));
    checks.check("the frames in B are gone with it",
                 aos::sys::cap_retype(ram, ObjType::frame, 0, page, 3, alloc, 0).has_value());
    checks.check("and so are the CNodes",
                 aos::sys::cap_retype(ram, ObjType::frame, cnodes_at, page, 1, alloc, 3).has_value());
    aos::Result<std::uint64_t> n = aos::sys::cap_revoke(ram);
    checks.check("revoke finds exactly the four new frames", n && *n == 4);
}

// A second dispatcher in this address space and CSpace (a thread, in effect) runs here until its last
// capability goes.
alignas(16) unsigned char thread_stack[16 * 1024];
volatile unsigned thread_rounds = 0;

[[noreturn]] void thread_main() {
    for (;;) {
        thread_rounds = thread_rounds + 1;
        (void)aos::sys::yield();
    }
}

void dispatchers_from_ram() {
    using aos::sys::invoke;
    constexpr std::uint32_t slot = 30;
    constexpr std::uint64_t at = 256 * page;
    CapAddr d = caddr(alloc, slot);
    checks.refused(
        "retype more dispatchers than address-space identifiers",
        retype(ram, retype_type_count(ObjType::dispatcher, 250), at, dispatcher_bytes, destination(alloc, 0)),
        Errc::no_memory, 2);
    checks.check(
        "retype a dispatcher",
        aos::sys::cap_retype(ram, ObjType::dispatcher, at, dispatcher_bytes, 1, alloc, slot).has_value());
    aos::Result<CapIdentity> id = aos::sys::cap_identify(d);
    checks.check("it is a dispatcher", id && id->type == ObjType::dispatcher && id->size == dispatcher_bytes);
    checks.refused("start before setup", invoke(d, CapOp::dispatcher_start), Errc::invalid_state, 0);
    auto entry = reinterpret_cast<std::uint64_t>(&thread_main);
    auto sp = reinterpret_cast<std::uint64_t>(thread_stack + sizeof(thread_stack));
    CapAddr l0 = caddr(root_slot_task, task_slot_root_vnode);
    checks.refused("setup: a frame as the CSpace", invoke(d, CapOp::dispatcher_setup, ram, l0, entry, sp),
                   Errc::invalid_argument, 2);
    checks.refused("setup: a CNode as the address space",
                   invoke(d, CapOp::dispatcher_setup, task_root, task_root, entry, sp),
                   Errc::invalid_argument, 3);
    checks.refused("setup: a misaligned entry",
                   invoke(d, CapOp::dispatcher_setup, task_root, l0, entry + 1, sp), Errc::invalid_argument,
                   4);
    checks.refused("setup: a stack beyond user space",
                   invoke(d, CapOp::dispatcher_setup, task_root, l0, entry, (std::uint64_t{1} << 48) + 16),
                   Errc::invalid_argument, 5);
    checks.check("setup: this CSpace and address space",
                 invoke(d, CapOp::dispatcher_setup, task_root, l0, entry, sp).error == 0);
    checks.refused("setup twice", invoke(d, CapOp::dispatcher_setup, task_root, l0, entry, sp),
                   Errc::invalid_state, 0);
    checks.check("name it",
                 invoke(d, CapOp::dispatcher_configure, 0, pack_name("thread").word[0], 0, 0).error == 0);
    checks.check("start it", aos::sys::dispatcher_start(d).has_value());
    for (unsigned i = 0; i < 50 && thread_rounds < 3; ++i)
        (void)aos::sys::yield();
    checks.check("it runs beside this one", thread_rounds >= 3);
    aos::sys::print("captest: deleting the thread's only dispatcher capability\n");
    checks.check("delete it", aos::sys::cap_delete(d).has_value());
    unsigned seen = thread_rounds;
    for (unsigned i = 0; i < 10; ++i)
        (void)aos::sys::yield();
    checks.check("it runs no more", thread_rounds == seen);
}

// A chain of endpoints, each holding the last capability to the next in its queue, 500 deep: deleting the
// first must end them all without the kernel recursing once per link.
void a_deep_chain_of_endpoints() {
    constexpr unsigned depth = 500;
    constexpr std::uint64_t at = 1024 * page; // 500 endpoints of a page each, clear of the other tests
    constexpr std::uint32_t head = 40, fresh = 41;
    const std::uint64_t words[lmp_words] = {};
    bool built = aos::sys::cap_retype(ram, ObjType::endpoint, at, endpoint_bytes, 1, alloc, head).has_value();
    for (unsigned i = 1; built && i < depth; ++i) {
        // The new endpoint takes the chain's head into its queue and becomes the head.
        built = aos::sys::cap_retype(ram, ObjType::endpoint, at + i * endpoint_bytes, endpoint_bytes, 1,
                                     alloc, fresh) &&
                aos::sys::lmp_send(caddr(alloc, fresh), words, caddr(alloc, head)) &&
                aos::sys::cap_delete(caddr(alloc, head)) &&
                aos::sys::cap_copy(caddr(alloc, fresh), alloc, head) &&
                aos::sys::cap_delete(caddr(alloc, fresh));
    }
    checks.check("build a chain of 500 endpoints", built);
    checks.check("delete its head", aos::sys::cap_delete(caddr(alloc, head)).has_value());
    checks.check("every link went with it",
                 aos::sys::cap_retype(ram, ObjType::frame, at, depth * endpoint_bytes, 1, alloc, head) &&
                     aos::sys::cap_delete(caddr(alloc, head)));
}

// A dispatcher whose address-space root is revoked cannot run any more: it is stopped.
void a_dispatcher_loses_its_address_space() {
    constexpr std::uint32_t l0_slot = 42, disp_slot = 43, part_slot = 44;
    constexpr std::uint64_t at = 2048 * page;
    checks.check("a RAM part for an address space",
                 aos::sys::cap_retype(ram, ObjType::ram, at, 4 * page, 1, alloc, part_slot).has_value());
    checks.check(
        "an L0 table from it and a dispatcher",
        aos::sys::cap_retype(caddr(alloc, part_slot), ObjType::vnode_l0, 0, page, 1, alloc, l0_slot) &&
            aos::sys::cap_retype(ram, ObjType::dispatcher, at + 16 * page, dispatcher_bytes, 1, alloc,
                                 disp_slot));
    checks.check("set it up on that table",
                 aos::sys::invoke(caddr(alloc, disp_slot), CapOp::dispatcher_setup, task_root,
                                  caddr(alloc, l0_slot), 0x400000, 0x10000)
                             .error == 0 &&
                     aos::sys::invoke(caddr(alloc, disp_slot), CapOp::dispatcher_configure, 0,
                                      pack_name("orphan").word[0], 0, 0)
                             .error == 0);
    aos::sys::print("captest: revoking the orphan's address space\n");
    checks.check("revoke the RAM part", aos::sys::cap_revoke(caddr(alloc, part_slot)).has_value());
    aos::Result<CapIdentity> id = aos::sys::cap_identify(caddr(alloc, disp_slot));
    checks.check("the dispatcher is stopped",
                 id && dispatcher_status(id->status) == DispatcherStatus::stopped);
    checks.check("clean up", aos::sys::cap_delete(caddr(alloc, disp_slot)) &&
                                 aos::sys::cap_delete(caddr(alloc, part_slot)));
}

} // namespace

int main() {
    const BootInfo* bi = aos::sys::require_bootinfo("captest");
    if (bi == nullptr)
        return 2;
    identify_what_the_kernel_gave(*bi);
    bad_addresses_and_operations();
    bad_retypes(bi->free_ram[0].size);
    retype_copy_mint_revoke(bi->free_ram[0].base, bi->free_ram[0].size);
    cnodes_from_ram(bi->free_ram[0].base);
    dispatchers_from_ram();
    a_deep_chain_of_endpoints();
    a_dispatcher_loses_its_address_space();
    return checks.finish();
}
