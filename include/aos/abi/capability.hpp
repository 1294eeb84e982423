// The capability interface between the kernel and user space: object types, rights, capability addresses,
// the well-known CSpace slots and the invocations with their register conventions.
//
//   // invoke (src/lib): x8 = Syscall::invoke, x0 = the capability's address, x1 = CapOp, x2..x5 arguments
//   auto id = aos::sys::cap_identify(aos::abi::caddr(aos::abi::root_slot_task,
//   aos::abi::task_slot_dispatcher));
#pragma once

#include <aos/arch/aarch64/descriptors.hpp>
#include <aos/core/errc.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::abi {

// Append only: values are the ABI.
enum class ObjType : std::uint8_t {
    null = 0,  // an empty slot
    ram = 1,   // untyped memory: retype it into anything below
    frame = 2, // memory a process may map
    dev_frame = 3,
    l1_cnode = 4, // the root of a CSpace: its slots hold L2 CNodes
    l2_cnode = 5, // l2_cnode_slots capabilities
    vnode_l0 = 6, // AArch64 translation tables, level 0 (the address-space root) to level 3
    vnode_l1 = 7,
    vnode_l2 = 8,
    vnode_l3 = 9,
    dispatcher = 10,
    endpoint = 11,
    mapping = 12, // what a map produced: unmapping goes through it
    console = 13, // the kernel console's input (init's, for the getchar service)
};
inline constexpr unsigned obj_type_count = 14;

// Rights, as bits: a derived capability never has more than its source.
enum Rights : std::uint8_t {
    right_read = 1,
    right_write = 2,
    right_execute = 4,
    right_grant = 8, // may be passed to another process
    rights_all = right_read | right_write | right_execute | right_grant,
};

// Why a leaf mapping of an object of `type`, held with `held` rights, may not have the `asked` rights, or
// Errc{} when it may: some read, never write and execute together (W^X), never execute on device
// registers (invalid_argument), never more than the capability has (permission_denied). The kernel's
// vnode_map enforces it; user space checks with it before it asks.
constexpr Errc map_rights_error(std::uint64_t asked, ObjType type, std::uint8_t held) {
    if ((asked & ~std::uint64_t{right_read | right_write | right_execute}) != 0 ||
        (asked & right_read) == 0 || ((asked & right_write) != 0 && (asked & right_execute) != 0))
        return Errc::invalid_argument;
    if (type == ObjType::dev_frame && (asked & right_execute) != 0)
        return Errc::invalid_argument;
    if ((asked & ~std::uint64_t{held}) != 0)
        return Errc::permission_denied;
    return Errc{};
}
static_assert(map_rights_error(right_read | right_execute, ObjType::frame, rights_all) == Errc{});
static_assert(map_rights_error(right_read | right_write | right_execute, ObjType::frame, rights_all) ==
              Errc::invalid_argument);
static_assert(map_rights_error(right_read | right_execute, ObjType::dev_frame, rights_all) ==
              Errc::invalid_argument);
static_assert(map_rights_error(right_read | right_write, ObjType::frame, right_read) ==
              Errc::permission_denied);

// The EL0 access a leaf mapping with `rights` gives (vnode_map, mapping_protect, the paging state's shadow
// of what it asked for), and back.
constexpr arch::aarch64::Prot user_prot(std::uint64_t rights) {
    namespace a64 = arch::aarch64;
    return static_cast<a64::Prot>(((rights & right_read) != 0 ? a64::prot_read : 0) |
                                  ((rights & right_write) != 0 ? a64::prot_write : 0) |
                                  ((rights & right_execute) != 0 ? a64::prot_exec : 0));
}
constexpr std::uint8_t rights_of_prot(arch::aarch64::Prot user) {
    namespace a64 = arch::aarch64;
    return static_cast<std::uint8_t>(((user & a64::prot_read) != 0 ? right_read : 0) |
                                     ((user & a64::prot_write) != 0 ? right_write : 0) |
                                     ((user & a64::prot_exec) != 0 ? right_execute : 0));
}
static_assert(user_prot(right_read | right_execute | right_grant) == arch::aarch64::prot_rx);
static_assert(rights_of_prot(user_prot(right_read | right_write)) == (right_read | right_write));

// A capability address: the L1 (root) CNode slot in bits 8-31, the slot of the L2 CNode found there in bits
// 0-7, as Barrelfish's two-level CSpace does. With bit 32 set it names the root slot itself (to identify,
// copy or delete an L2 CNode).
using CapAddr = std::uint64_t;
inline constexpr unsigned l2_cnode_bits = 8;
inline constexpr unsigned l2_cnode_slots = 1u << l2_cnode_bits;
inline constexpr std::uint64_t caddr_root_level = std::uint64_t{1} << 32;
inline constexpr std::uint64_t caddr_max = caddr_root_level | 0xffffffff;

constexpr CapAddr caddr(std::uint32_t l1_slot, std::uint32_t l2_slot) {
    return (std::uint64_t{l1_slot} << l2_cnode_bits) | (l2_slot & (l2_cnode_slots - 1));
}
constexpr CapAddr root_slot_caddr(std::uint32_t l1_slot) {
    return caddr_root_level | caddr(l1_slot, 0);
}
constexpr std::uint32_t caddr_l1(CapAddr a) {
    return static_cast<std::uint32_t>((a & 0xffffffff) >> l2_cnode_bits);
}
constexpr std::uint32_t caddr_l2(CapAddr a) {
    return static_cast<std::uint32_t>(a & (l2_cnode_slots - 1));
}
constexpr bool caddr_is_root_slot(CapAddr a) {
    return (a & caddr_root_level) != 0;
}

// The kernel's capability table entry is this large; CNode sizes in retype are multiples of it.
inline constexpr std::size_t cte_size = 128;
inline constexpr std::size_t l2_cnode_bytes = l2_cnode_slots * cte_size;
inline constexpr std::size_t l1_cnode_min_slots = 16;
inline constexpr std::size_t init_root_slots = 64; // the root CNode the kernel makes for init
// Frames, RAM and translation tables are retyped in whole pages.
inline constexpr std::uint64_t object_granule = 4096;
inline constexpr std::uint64_t vnode_bytes = 4096;
inline constexpr std::uint64_t dispatcher_bytes = 8192;
inline constexpr std::uint64_t endpoint_bytes = 4096;
inline constexpr unsigned lmp_queue_length = 8;
inline constexpr unsigned lmp_words = 8; // one 64-byte frame (aos::ipc::Frame)
// The registers that carry the frame's words: x2..x7, then x9 and x10 (x8 holds the system-call number).
inline constexpr unsigned lmp_word_registers[lmp_words] = {2, 3, 4, 5, 6, 7, 9, 10};
inline constexpr unsigned lmp_cap_register = 11; // send: the capability; receive: the flags
inline constexpr std::uint64_t no_capability = ~std::uint64_t{0};
inline constexpr std::uint64_t receive_block = 1;
inline constexpr std::uint64_t fault_give_up = 0;
inline constexpr std::uint64_t fault_resume = 1;
// endpoint_receive's x5.
inline constexpr std::uint64_t lmp_cap_delivered = 1; // the capability is at the destination
inline constexpr std::uint64_t lmp_cap_dropped = 2;   // one came, but there was no (longer a) place for it
// Not a message: the dispatcher that was given this badge's endpoint for dispatcher_set_notify ended.
// Notifications are never lost: each badge is one pending bit, reported before queued messages.
inline constexpr std::uint64_t lmp_notification = 4;
inline constexpr std::uint64_t notify_badge_max = 64;
inline constexpr std::uint64_t instruction_alignment = 4;
inline constexpr std::uint64_t stack_alignment = 16;

// Well-known slots of the root (L1) CNode: each holds an L2 CNode.
inline constexpr std::uint32_t root_slot_task = 0;        // the task CNode below
inline constexpr std::uint32_t root_slot_slot_alloc0 = 1; // empty: the process's first slots to allocate
inline constexpr std::uint32_t root_slot_slot_alloc1 = 2; // empty: more slots
inline constexpr std::uint32_t root_slot_page_cnode = 3;  // slot 0: its L0 VNode (and room for its tables)
inline constexpr std::uint32_t root_slot_base_page = 4;   // base_page_count RAM capabilities of one page each
inline constexpr std::uint32_t base_page_count = 16;
inline constexpr std::uint32_t root_slot_super = 5;       // init: a RAM capability per free RAM region
inline constexpr std::uint32_t root_slot_dispatchers = 6; // init: the programs the kernel loaded
inline constexpr std::uint32_t root_slot_modules = 7;     // init: a read-only Frame per boot module
inline constexpr std::uint32_t root_slot_devices = 8; // init: DevFrames of devices the kernel leaves alone
inline constexpr std::uint32_t root_slot_argument_cnode = 9; // a CNode a parent passed at spawn, if any
inline constexpr std::uint32_t root_slot_first_free = 10;    // the rest are the process's to fill
inline constexpr std::uint32_t device_slot_rtc = 0;          // the PL031 real-time clock, when there is one
inline constexpr std::uint32_t device_slot_console = 1;      // the console's input
// Well-known slots of the task CNode.
inline constexpr std::uint32_t task_slot_dispatcher = 1; // the process's own dispatcher
inline constexpr std::uint32_t task_slot_root = 2;       // its root CNode
inline constexpr std::uint32_t task_slot_root_vnode = 3; // its address space's L0 table
inline constexpr std::uint32_t task_slot_ram = 4;        // RAM its parent gave it (its heap's, for now)
inline constexpr std::uint32_t task_slot_args_page = 5;  // the frame of its arguments page
// The capabilities a parent passes at spawn, in order (the first is by convention the endpoint to init).
inline constexpr std::uint32_t task_slot_arguments = 8;
inline constexpr std::uint32_t task_argument_slots = 8;
inline constexpr std::uint32_t task_slot_init_endpoint = task_slot_arguments; // the convention for the first

// Append only. Operations every capability accepts come first; the rest belong to one type.
enum class CapOp : std::uint64_t {
    identify = 1, // -> x1 = type | rights << 8, x2 = base, x3 = size, x4 = badge or dispatcher id, x5 =
                  // a dispatcher's status word (dispatcher_status_word)
    copy = 2,     // x2 = destination (see destination())
    mint = 3,     // x2 = destination, x3 = rights kept (a mask), x4 = badge (endpoints only, else 0)
    remove = 4,   // delete the capability in this slot ("delete" is a C++ keyword)
    revoke = 5,   // delete every descendant; -> x1 = how many
    retype = 16,  // RAM: x2 = type | count << 32, x3 = offset, x4 = object size, x5 = destination
    // VNode: map x2 (a Frame into an L3 table as pages or an L1/L2 table as blocks, or a VNode of the next
    // level) at entries x3 (map_entries), with x4 = offset into the frame | rights (some read; never write
    // and execute); x5 = where the mapping capability goes. Deleting it (or the last copy of the frame or
    // table) unmaps. A frame's mapping capability has the rights the frame capability had: what
    // mapping_protect may grant later.
    vnode_map = 24,
    // Mapping of frame pages: its entries x3 (map_entries, counted from the mapping's first entry) get the
    // rights x2, in place, under the rules of vnode_map against the mapping's own rights (so write and
    // execute can alternate, W^X, on a frame held with both). A table's mapping has none to change.
    mapping_protect = 25,
    dispatcher_start = 32,   // a loaded dispatcher that never ran starts
    dispatcher_suspend = 33, // it stops being scheduled until resumed (a sleeper keeps its wake-up time)
    dispatcher_resume = 34,
    dispatcher_stop = 35, // it ends for good, reported as stopped
    // A dispatcher made from RAM: x2 = its root CNode (L1), x3 = its L0 VNode, x4 = entry point, x5 = stack
    // pointer. Once, before it starts.
    dispatcher_setup = 36,
    // x2 = the value of its x0 at entry, x3..x5 = its name (up to 24 bytes, NUL-padded), before it starts.
    dispatcher_configure = 37,
    // Page faults: x2 = the handler's entry (0: none), x3 = the top of its exception stack. A translation or
    // permission fault of this dispatcher then enters the handler with x0 = FAR, x1 = ESR, x2 = the faulting
    // ELR; a fault inside the handler, or with none, stops the dispatcher.
    dispatcher_set_fault_handler = 38,
    // From the handler, on its own dispatcher: x2 = fault_resume to retry the faulting instruction with the
    // registers it had, fault_give_up to be stopped with the fault reported.
    dispatcher_fault_return = 39,
    // Endpoint (LMP): one 64-byte frame in the registers lmp_word_registers, and in x11 a capability to
    // pass along (a copy; it needs the grant right) or no_capability. Delivered at once to a waiting
    // receiver, else queued; would_block when the queue (lmp_queue_length messages) is full. Needs write.
    endpoint_send = 40,
    // x2 = where a capability that comes with the message goes (destination()) or no_capability, x3 =
    // receive_block to wait for a message. -> x1 = the sender's badge, the frame in lmp_word_registers, x11
    // = lmp_flags. Needs the read right.
    endpoint_receive = 41,
    // On a dispatcher: x2 = an endpoint capability (badge 1-64, write right) that is notified when the
    // dispatcher ends (exits, is stopped, or its last capability goes); no_capability: none.
    dispatcher_set_notify = 42,
    // Console: up to eight characters the console received -> x1 = them (the first in the low byte), x2 =
    // how many (0: none yet). Needs read.
    console_read = 43,
    // x2 = an endpoint (badge 1-64, write right) notified when characters arrive, or no_capability.
    console_set_notify = 44,
};

// Where copy, mint and retype put their result: a CNode and its first slot. A CNode is named by its place
// in the caller's CSpace: cnode_root is the root (L1) CNode itself; a value k below 2^24 is the L2 CNode in
// root slot k; cnode_at(a) is the CNode (L1 or L2) whose capability is at address a, such as a child's root
// CNode that init is filling. The slots of any L1 CNode hold only L2 CNodes.
using CNodeRef = std::uint32_t;
inline constexpr CNodeRef cnode_root = 0xffffffff;
inline constexpr CNodeRef cnode_at_flag = 0x80000000;
constexpr CNodeRef cnode_at(CapAddr a) {
    return cnode_at_flag | static_cast<CNodeRef>(a & 0x7fffffff);
}
// Invocation argument words, each encoder with the decoder the kernel reads it with.
constexpr std::uint64_t destination(CNodeRef cnode, std::uint32_t slot) {
    return (std::uint64_t{cnode} << 32) | slot;
}
constexpr CNodeRef destination_cnode(std::uint64_t word) {
    return static_cast<CNodeRef>(word >> 32);
}
constexpr std::uint32_t destination_slot(std::uint64_t word) {
    return static_cast<std::uint32_t>(word);
}
static_assert(destination_cnode(destination(cnode_root, 7)) == cnode_root &&
              destination_slot(destination(cnode_root, 7)) == 7);

constexpr std::uint64_t retype_type_count(ObjType type, std::uint32_t count) {
    return static_cast<std::uint64_t>(type) | (std::uint64_t{count} << 32);
}
// The type field as a number: an out-of-range one is refused before it becomes an ObjType.
constexpr std::uint32_t retype_type(std::uint64_t word) {
    return static_cast<std::uint32_t>(word);
}
constexpr std::uint32_t retype_count(std::uint64_t word) {
    return static_cast<std::uint32_t>(word >> 32);
}
static_assert(retype_type(retype_type_count(ObjType::frame, 3)) ==
                  static_cast<std::uint32_t>(ObjType::frame) &&
              retype_count(retype_type_count(ObjType::frame, 3)) == 3);

// Entries [first, first + count) of a table; both fit 16 bits, and the bits above 32 must be 0.
constexpr std::uint64_t map_entries(std::uint32_t first, std::uint32_t count) {
    return first | (std::uint64_t{count} << 16);
}
constexpr std::uint32_t map_first(std::uint64_t word) {
    return static_cast<std::uint32_t>(word & 0xffff);
}
constexpr std::uint32_t map_count(std::uint64_t word) {
    return static_cast<std::uint32_t>((word >> 16) & 0xffff);
}
constexpr bool map_entries_valid(std::uint64_t word) {
    return (word >> 32) == 0;
}
static_assert(map_first(map_entries(5, 9)) == 5 && map_count(map_entries(5, 9)) == 9 &&
              map_entries_valid(map_entries(511, 1)));
inline constexpr unsigned vnode_entries = 512;

// What identify says of a dispatcher in x5: its state in the low byte, its exit status (exited) above.
enum class DispatcherStatus : std::uint8_t {
    unset = 0,   // made from RAM, not set up yet
    created = 1, // waiting for dispatcher_start
    runnable = 2,
    sleeping = 3,
    receiving = 4, // waiting on an endpoint
    suspended = 5,
    exited = 6,
    stopped = 7, // stopped by dispatcher_stop, a fault, or its last capability going
};
constexpr std::uint64_t dispatcher_status_word(DispatcherStatus s, std::int32_t exit_status) {
    return static_cast<std::uint64_t>(s) | (std::uint64_t{static_cast<std::uint32_t>(exit_status)} << 32);
}
constexpr DispatcherStatus dispatcher_status(std::uint64_t word) {
    return static_cast<DispatcherStatus>(word & 0xff);
}
constexpr std::int32_t dispatcher_exit_status(std::uint64_t word) {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(word >> 32));
}

// A dispatcher's name as dispatcher_configure takes it: up to 24 bytes in three registers, the first
// character in the low byte, NUL-padded.
inline constexpr unsigned name_registers = 3;
struct NameWords {
    std::uint64_t word[name_registers];
};
constexpr NameWords pack_name(const char* name) {
    NameWords n{};
    std::size_t at = 0;
    for (std::uint64_t& w : n.word) {
        for (unsigned b = 0; b < sizeof(std::uint64_t) && name[at] != '\0'; ++b, ++at)
            w |= std::uint64_t{static_cast<unsigned char>(name[at])} << (8 * b);
    }
    return n;
}
// The inverse: the name into `out` (at most size - 1 characters and a NUL); returns its length.
constexpr std::size_t unpack_name(const std::uint64_t (&words)[name_registers], char* out, std::size_t size) {
    std::size_t n = 0;
    for (std::uint64_t w : words) {
        for (unsigned b = 0; b < sizeof(std::uint64_t); ++b) {
            char c = static_cast<char>((w >> (8 * b)) & 0xff);
            if (c == '\0' || n + 1 >= size) {
                out[n] = '\0';
                return n;
            }
            out[n++] = c;
        }
    }
    out[n] = '\0';
    return n;
}
static_assert(pack_name("ab").word[0] == 0x6261 && pack_name("ab").word[1] == 0);
static_assert([] {
    char out[32] = {};
    std::size_t n = unpack_name(pack_name("a name of 24 characters!").word, out, sizeof(out));
    char cut[5] = {};
    return n == 24 && out[23] == '!' && unpack_name(pack_name("truncated").word, cut, sizeof(cut)) == 4;
}());

// On an error, x1 holds the register number (0-5) of the argument that was wrong, or invoke_no_argument.
inline constexpr std::uint64_t invoke_no_argument = ~std::uint64_t{0};

// identify's first result word.
constexpr std::uint64_t identify_word(ObjType type, std::uint8_t rights) {
    return static_cast<std::uint64_t>(type) | (std::uint64_t{rights} << 8);
}

static_assert(l2_cnode_bytes % object_granule == 0, "an L2 CNode is whole pages");
static_assert(caddr(1, 2) == 0x102 && caddr_l1(0x102) == 1 && caddr_l2(0x102) == 2);

} // namespace aos::abi
