// Capabilities in the kernel: the capability table entry (CTE), CNode lookup by capability address, and the
// invocations that do not touch scheduling (identify, copy, mint, delete, revoke, retype). Memory-backed
// capabilities live in one aos::cap::MappingDb, which answers "is this the last copy" and "what descends".
#pragma once

#include <aos/abi/capability.hpp>
#include <aos/cap/mapping_db.hpp>
#include <aos/core/result.hpp>

#include <cstdint>

namespace kernel {

struct Capability {
    aos::abi::ObjType type = aos::abi::ObjType::null;
    std::uint8_t rights = 0;
    bool being_deleted = false; // queued for destruction: its CNode's slots are being emptied
    std::uint64_t base = 0;     // physical, for memory-backed objects
    std::uint64_t size = 0;
    std::uint64_t word = 0;  // endpoint: badge; dispatcher: its id; mapping: table | first entry
    std::uint64_t extra = 0; // mapping: offset into the object | entry count
};

// One slot. An all-zero entry is an empty slot, so memory retyped into a CNode only has to be zeroed.
struct alignas(aos::abi::cte_size) Cte {
    Capability cap;
    aos::core::TreeHook<Cte> mdb_hook;
    aos::cap::MdbKey mdb_key;
    std::uint64_t mdb_max_end = 0;
    Cte* delete_next = nullptr; // the destruction queue, while being_deleted
    // Set on a dispatcher's address-space root slot (the slot lives in the dispatcher): losing what is in it
    // stops that dispatcher, which could not run on a freed table.
    void* root_of_dispatcher = nullptr;

    bool empty() const { return cap.type == aos::abi::ObjType::null; }
    bool in_mdb() const { return mdb_hook.linked(); }
};
static_assert(sizeof(Cte) == aos::abi::cte_size, "the ABI fixes the slot size CNode retypes use");

inline bool is_cnode(aos::abi::ObjType t) {
    return t == aos::abi::ObjType::l1_cnode || t == aos::abi::ObjType::l2_cnode;
}
inline bool is_vnode(aos::abi::ObjType t) {
    return t >= aos::abi::ObjType::vnode_l0 && t <= aos::abi::ObjType::vnode_l3;
}
inline unsigned vnode_level(aos::abi::ObjType t) {
    return static_cast<unsigned>(t) - static_cast<unsigned>(aos::abi::ObjType::vnode_l0);
}

// Empties a slot that is not in the mapping database (one never linked, or already removed).
void clear(Cte& c);

// The slots of a CNode capability (through the direct map).
Cte* cnode_slots(const Capability& c);
std::uint64_t cnode_slot_count(const Capability& c);

// The non-empty slot a capability address names in the CSpace whose root CNode capability is `root`.
// Errors: the address is too large, the root slot holds no L2 CNode, or the slot is empty.
aos::Result<Cte*> cap_lookup(const Cte& root, std::uint64_t caddr);

// Kernel-made objects at boot: a CNode over zeroed memory at `pa` (not in the mapping database: these are
// never reclaimed), and original capabilities to memory (RAM, the boot modules' frames: in it, depth 0).
Capability make_cnode_cap(aos::abi::ObjType type, std::uint64_t pa, std::uint64_t slots);
aos::Result<void> install_original(Cte& slot, aos::abi::ObjType type, std::uint64_t base, std::uint64_t size,
                                   std::uint8_t rights);
void install_copy(Cte& dest, const Cte& src);

// Argument registers of an invocation (x0 the target, x1 the operation, x2-x5 its arguments), named for the
// errors that point at them.
enum InvokeArg : unsigned { arg_target = 0, arg_op = 1, arg2 = 2, arg3 = 3, arg4 = 4, arg5 = 5 };

// The outcome of an invocation: the value (x1) and extra result words (x2..x5), or an error and the number
// of the argument register that was wrong.
struct InvokeOutcome {
    aos::Errc error = aos::Errc::invalid_argument;
    bool ok = false;
    bool registers_written = false; // the invocation wrote its results into the frame itself
    std::uint64_t bad_argument = aos::abi::invoke_no_argument;
    static constexpr unsigned value_count = 5; // x1..x5
    std::uint64_t value[value_count] = {};

    static InvokeOutcome failure(aos::Errc e, unsigned argument) {
        InvokeOutcome o;
        o.error = e;
        o.bad_argument = argument;
        return o;
    }
    static InvokeOutcome success(std::uint64_t v0 = 0, std::uint64_t v1 = 0, std::uint64_t v2 = 0,
                                 std::uint64_t v3 = 0, std::uint64_t v4 = 0) {
        InvokeOutcome o;
        o.ok = true;
        o.value[0] = v0;
        o.value[1] = v1;
        o.value[2] = v2;
        o.value[3] = v3;
        o.value[4] = v4;
        return o;
    }
};

// The empty slot a destination word (abi::destination) names in the CSpace of `root`, for a capability of
// type `placed`.
aos::Result<Cte*> cap_destination(const Cte& root, std::uint64_t dest, aos::abi::ObjType placed);
// The same before the type is known (an LMP receive's destination): whatever arrives is checked again.
aos::Result<Cte*> cap_destination_any(const Cte& root, std::uint64_t dest);
// Moves a capability out of `from` (which must not be in use elsewhere) into the empty slot `to`.
void cap_move(Cte& to, Cte& from);
// Deletes the capability in a slot, as the delete invocation does (the last copy takes its object with it).
void cap_delete(Cte& c);

// identify, copy, mint, delete, revoke, retype and map on `target`, found in the CSpace of `root`. args are
// x0..x5 as the caller passed them.
InvokeOutcome cap_invoke(const Cte& root, Cte& target, aos::abi::CapOp op, const std::uint64_t (&args)[6]);

// Whether the mapping database's invariants hold (selftests and assertions).
bool caps_check_invariants();

} // namespace kernel
