// init's spawner (spawn.hpp).
#include "spawn.hpp"

#include <aos/abi/args.hpp>
#include <aos/arch/page.hpp>
#include <aos/boot/cmdline.hpp>
#include <aos/core/string_ref.hpp>
#include <aos/proc/elf.hpp>

#include <iterator>

namespace aos::init {

namespace {

constexpr std::uint64_t page = abi::object_granule;

std::uint8_t rights_of(const proc::SegmentPermissions& p) {
    return static_cast<std::uint8_t>((p.read ? abi::right_read : 0) | (p.write ? abi::right_write : 0) |
                                     (p.execute ? abi::right_execute : 0));
}

// The ELF loader policy: a fresh frame per segment, filled through init's scratch mapping, then mapped into
// the child with the segment's rights.
struct SegmentLoader {
    user::SlotAllocator& slots;
    user::RamSource& ram;
    user::CapVSpace& self;
    user::CapVSpace& child;
    std::uint64_t scratch;
    user::SlotAllocator::Slot frame{};
    user::Mappings seen;

    Result<std::uint8_t*> writable(const proc::ElfSegment& s) {
        std::uint64_t bytes = s.page_end() - s.page_start();
        frame = AOS_TRY(ram.retype(slots, abi::ObjType::frame, bytes));
        AOS_TRY(self.map(scratch, frame.addr(), bytes, abi::right_read | abi::right_write, &seen));
        return reinterpret_cast<std::uint8_t*>(scratch);
    }
    Result<void> commit(const proc::ElfSegment& s) {
        self.unmap(seen);
        std::uint8_t r = rights_of(s.perms);
        if ((r & abi::right_read) == 0)
            r |= abi::right_read; // AArch64 cannot map execute-only or write-only for EL0 and keep EL1 out
        return child.map(s.page_start(), frame.addr(), s.page_end() - s.page_start(), r, nullptr);
    }
};
static_assert(proc::ElfLoader<SegmentLoader>);

// Which of the passed capabilities (identified in `ids`) also becomes the child's argument CNode,
// reachable by two-level addresses: the first L2 CNode (cap_count when there is none).
unsigned argument_cnode_of(const sys::CapIdentity* ids, unsigned cap_count) {
    for (unsigned i = 0; i < cap_count; ++i) {
        if (ids[i].type == abi::ObjType::l2_cnode)
            return i;
    }
    return cap_count;
}

// The child's CSpace (the well-known slots of include/aos/abi/capability.hpp): a root CNode with its task
// CNode (its dispatcher, root CNode, root table, heap RAM and arguments page, then `caps`), two empty CNodes
// for its own allocations, the page CNode and the base-page CNode.
Result<user::SlotAllocator::Slot> build_cspace(user::SlotAllocator& slots, user::RamSource& ram,
                                               abi::CapAddr dispatcher, abi::CapAddr l0,
                                               abi::CapAddr args_page, std::uint64_t heap_bytes,
                                               const abi::CapAddr* caps, unsigned cap_count,
                                               unsigned argument_cnode) {
    user::SlotAllocator::Slot root = AOS_TRY(ram.retype(slots, abi::ObjType::l1_cnode, child_cspace_bytes));
    user::SlotAllocator::Slot task = AOS_TRY(ram.retype(slots, abi::ObjType::l2_cnode, abi::l2_cnode_bytes));
    user::SlotAllocator::Slot spare = AOS_TRY(ram.retype(slots, abi::ObjType::l2_cnode, abi::l2_cnode_bytes));
    user::SlotAllocator::Slot spare1 =
        AOS_TRY(ram.retype(slots, abi::ObjType::l2_cnode, abi::l2_cnode_bytes));
    user::SlotAllocator::Slot page_cn =
        AOS_TRY(ram.retype(slots, abi::ObjType::l2_cnode, abi::l2_cnode_bytes));
    user::SlotAllocator::Slot base_cn =
        AOS_TRY(ram.retype(slots, abi::ObjType::l2_cnode, abi::l2_cnode_bytes));
    abi::CNodeRef child_root = abi::cnode_at(root.addr());
    abi::CNodeRef child_task = abi::cnode_at(task.addr());
    // The page CNode holds the address space's root, the base-page CNode a few single pages of RAM (for
    // the child's first tables and CNodes before it asks init for more).
    AOS_TRY(sys::cap_copy(l0, abi::cnode_at(page_cn.addr()), 0));
    user::SlotAllocator::Slot base =
        AOS_TRY(ram.retype(slots, abi::ObjType::ram, abi::base_page_count * abi::object_granule));
    Result<void> split = sys::cap_retype(base.addr(), abi::ObjType::ram, 0, abi::object_granule,
                                         abi::base_page_count, abi::cnode_at(base_cn.addr()), 0);
    // The pages stay: they descend from the pool, not from this temporary capability.
    AOS_TRY(sys::cap_delete(base.addr()));
    slots.free(base);
    AOS_TRY(split);
    AOS_TRY(sys::cap_copy(dispatcher, child_task, abi::task_slot_dispatcher));
    AOS_TRY(sys::cap_copy(root.addr(), child_task, abi::task_slot_root));
    AOS_TRY(sys::cap_copy(l0, child_task, abi::task_slot_root_vnode));
    AOS_TRY(sys::cap_copy(args_page, child_task, abi::task_slot_args_page));
    if (heap_bytes != 0) {
        user::SlotAllocator::Slot heap = AOS_TRY(ram.retype(slots, abi::ObjType::ram, heap_bytes));
        AOS_TRY(sys::cap_copy(heap.addr(), child_task, abi::task_slot_ram));
        AOS_TRY(sys::cap_delete(heap.addr()));
        slots.free(heap);
    }
    for (unsigned i = 0; i < cap_count; ++i)
        AOS_TRY(sys::cap_copy(caps[i], child_task, abi::task_slot_arguments + i));
    if (argument_cnode < cap_count)
        AOS_TRY(sys::cap_copy(caps[argument_cnode], child_root, abi::root_slot_argument_cnode));
    // Moved, not copied: the child's CSpace holds the only capabilities to its CNodes besides its root.
    AOS_TRY(sys::cap_copy(task.addr(), child_root, abi::root_slot_task));
    AOS_TRY(sys::cap_copy(spare.addr(), child_root, abi::root_slot_slot_alloc0));
    AOS_TRY(sys::cap_copy(spare1.addr(), child_root, abi::root_slot_slot_alloc1));
    AOS_TRY(sys::cap_copy(page_cn.addr(), child_root, abi::root_slot_page_cnode));
    AOS_TRY(sys::cap_copy(base_cn.addr(), child_root, abi::root_slot_base_page));
    for (const user::SlotAllocator::Slot& s : {task, spare, spare1, page_cn, base_cn}) {
        AOS_TRY(sys::cap_delete(s.addr()));
        slots.free(s);
    }
    return root;
}

// What a child finds in its CSpace before anything is passed: its well-known slots.
struct WellKnown {
    const char* name;
    abi::CapAddr addr;
    abi::ObjType type;
    std::uint8_t rights;
};
constexpr WellKnown well_known[] = {
    {"dispatcher", abi::caddr(abi::root_slot_task, abi::task_slot_dispatcher), abi::ObjType::dispatcher,
     abi::rights_all},
    {"cspace", abi::caddr(abi::root_slot_task, abi::task_slot_root), abi::ObjType::l1_cnode, abi::rights_all},
    {"vspace", abi::caddr(abi::root_slot_task, abi::task_slot_root_vnode), abi::ObjType::vnode_l0,
     abi::rights_all},
    {"args", abi::caddr(abi::root_slot_task, abi::task_slot_args_page), abi::ObjType::frame, abi::rights_all},
    {"slots0", abi::root_slot_caddr(abi::root_slot_slot_alloc0), abi::ObjType::l2_cnode, abi::rights_all},
    {"slots1", abi::root_slot_caddr(abi::root_slot_slot_alloc1), abi::ObjType::l2_cnode, abi::rights_all},
    {"pages", abi::root_slot_caddr(abi::root_slot_page_cnode), abi::ObjType::l2_cnode, abi::rights_all},
    {"basepages", abi::root_slot_caddr(abi::root_slot_base_page), abi::ObjType::l2_cnode, abi::rights_all},
};
// The well-known ones, the passed ones and the argument CNode all fit.
static_assert(std::size(well_known) + 1 + abi::task_argument_slots + 1 <= abi::cap_records_max);

// The record of the child's capabilities in its arguments page (abi::CapRecord).
bool record_capabilities(abi::ArgsPage& page, bool has_ram, const sys::CapIdentity* ids, unsigned cap_count,
                         const char* const* names, unsigned argument_cnode) {
    bool ok = true;
    for (const WellKnown& w : well_known)
        ok = ok && abi::add_capability(page, w.addr, static_cast<std::uint8_t>(w.type), w.rights, w.name);
    if (has_ram)
        ok = ok && abi::add_capability(page, abi::caddr(abi::root_slot_task, abi::task_slot_ram),
                                       static_cast<std::uint8_t>(abi::ObjType::ram), abi::rights_all, "ram");
    for (unsigned i = 0; ok && i < cap_count; ++i) {
        const sys::CapIdentity* id = &ids[i];
        char fallback[] = "arg0";
        fallback[3] = static_cast<char>('0' + i);
        const char* name = names != nullptr && names[i] != nullptr ? names[i] : fallback;
        ok = abi::add_capability(page, abi::caddr(abi::root_slot_task, abi::task_slot_arguments + i),
                                 static_cast<std::uint8_t>(id->type), id->rights, name);
        if (ok && i == argument_cnode)
            ok = abi::add_capability(page, abi::root_slot_caddr(abi::root_slot_argument_cnode),
                                     static_cast<std::uint8_t>(id->type), id->rights, "argcnode");
    }
    return ok;
}

} // namespace

Result<std::uint32_t> Spawner::module_index(const char* name) const {
    for (std::uint32_t i = 0; i < bi_.module_count; ++i) {
        if (core::StringRef::from_c_str(bi_.modules[i].name).equals(name))
            return i;
    }
    return error(Errc::not_found);
}

// The arguments page: a frame filled through the scratch mapping, then mapped read-only in the child.
Result<void> Spawner::map_arguments(user::CapVSpace& child, const char* command_line,
                                    const sys::CapIdentity* ids, unsigned cap_count, const char* const* names,
                                    unsigned argument_cnode) {
    user::SlotAllocator::Slot frame =
        AOS_TRY(ram_.retype(slots_, abi::ObjType::frame, sizeof(abi::ArgsPage)));
    user::Mappings seen;
    AOS_TRY(
        self_.map(scratch_, frame.addr(), sizeof(abi::ArgsPage), abi::right_read | abi::right_write, &seen));
    auto* page = reinterpret_cast<abi::ArgsPage*>(scratch_);
    bool filled = abi::fill_args(*page, command_line);
    for (unsigned i = 0; filled && i < env_count_; ++i)
        filled = abi::add_environment(*page, environment_[i]);
    filled = filled && record_capabilities(*page, heap_bytes_ != 0, ids, cap_count, names, argument_cnode);
    self_.unmap(seen);
    if (!filled)
        return error(Errc::invalid_argument);
    AOS_TRY(child.map(abi::args_user_address, frame.addr(), sizeof(abi::ArgsPage), abi::right_read, nullptr));
    args_frame_ = frame;
    return ok();
}

Result<Child> Spawner::spawn(const char* command_line, const abi::CapAddr* caps, unsigned cap_count,
                             const char* const* names) {
    if (cap_count > abi::task_argument_slots)
        return error(Errc::out_of_range);
    // The first word names the module.
    core::StringRef word = boot::CommandLine(command_line).first_word();
    if (word.size == 0)
        return error(Errc::invalid_argument);
    if (word.size >= abi::module_name_max)
        return error(Errc::not_found); // longer than any module name
    char name[abi::module_name_max] = {};
    for (std::size_t i = 0; i < word.size; ++i)
        name[i] = word.data[i];
    std::uint32_t m = AOS_TRY(module_index(name));
    std::uint64_t module_bytes = arch::page_up(bi_.modules[m].size);
    user::Mappings module_map;
    AOS_TRY(self_.map(scratch_, abi::caddr(abi::root_slot_modules, m), module_bytes, abi::right_read,
                      &module_map));
    const char* field = nullptr;
    Result<proc::ElfImage> image =
        proc::ElfImage::parse(reinterpret_cast<const void*>(scratch_), bi_.modules[m].size,
                              {.lo = page, .hi = child_stack_top - child_stack_bytes - page}, &field);
    if (!image) {
        self_.unmap(module_map);
        return error(image.error());
    }

    Result<user::SlotAllocator::Slot> root_table =
        ram_.retype(slots_, abi::ObjType::vnode_l0, abi::vnode_bytes);
    if (!root_table) {
        self_.unmap(module_map); // init's own mappings are not in the child's pool: they go by hand
        return error(root_table.error());
    }
    user::SlotAllocator::Slot l0 = *root_table;
    user::CapVSpace child(l0.addr(), slots_, ram_);
    // Segments pass through the scratch address after the module's pages.
    SegmentLoader loader{slots_, ram_, self_, child, scratch_ + module_bytes, {}, {}};
    Result<void> loaded = image->load(loader);
    std::uint64_t entry = image->entry();
    self_.unmap(loader.seen); // a segment that failed between writable and commit is still mapped
    self_.unmap(module_map);
    AOS_TRY(loaded);

    // What each passed capability is, asked once: for the argument CNode and for the capability record.
    sys::CapIdentity ids[abi::task_argument_slots];
    for (unsigned i = 0; i < cap_count; ++i)
        ids[i] = AOS_TRY(sys::cap_identify(caps[i]));
    unsigned argument_cnode = argument_cnode_of(ids, cap_count);
    AOS_TRY(map_arguments(child, command_line, ids, cap_count, names, argument_cnode));
    user::SlotAllocator::Slot stack = AOS_TRY(ram_.retype(slots_, abi::ObjType::frame, child_stack_bytes));
    AOS_TRY(child.map(child_stack_top - child_stack_bytes, stack.addr(), child_stack_bytes,
                      abi::right_read | abi::right_write, nullptr));

    user::SlotAllocator::Slot disp =
        AOS_TRY(ram_.retype(slots_, abi::ObjType::dispatcher, abi::dispatcher_bytes));
    user::SlotAllocator::Slot cspace =
        AOS_TRY(build_cspace(slots_, ram_, disp.addr(), l0.addr(), args_frame_.addr(), heap_bytes_, caps,
                             cap_count, argument_cnode));
    AOS_TRY(sys::invoke_status(disp.addr(), abi::CapOp::dispatcher_setup, cspace.addr(), l0.addr(), entry,
                               child_stack_top));
    abi::NameWords words = abi::pack_name(name);
    AOS_TRY(sys::invoke_status(disp.addr(), abi::CapOp::dispatcher_configure, abi::args_user_address,
                               words.word[0], words.word[1], words.word[2]));
    if (notice_ != abi::no_capability)
        AOS_TRY(sys::invoke_status(disp.addr(), abi::CapOp::dispatcher_set_notify, notice_));
    Result<sys::CapIdentity> id = sys::cap_identify(disp.addr());
    AOS_TRY(sys::dispatcher_start(disp.addr()));
    return Child{disp, id ? id->word : 0};
}

} // namespace aos::init
