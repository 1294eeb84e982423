// init's process manager: spawns children (each from its own pool grant, with a CNode of its own and an LMP
// channel to init), keeps them in the library's process table (PIDs with the core in the high bits), serves
// their RPC calls, and when one ends (the kernel notifies init's endpoint) reports it, answers its waiters
// and takes back everything it had. init blocks on its one endpoint for all of it.
#pragma once

#include "memory.hpp"
#include "rpc.hpp"
#include "waitset.hpp"

#include <aos/proc/process_table.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::init {

inline constexpr std::size_t max_children = 16;

// Process names in fixed blocks (the process table stores a copy of each).
class NameBlocks {
public:
    static constexpr std::size_t block = 32;
    char* allocate(std::size_t n);
    void release(char* p, std::size_t n);

private:
    char blocks_[max_children * 2][block] = {};
    bool used_[max_children * 2] = {};
};

class ProcessManager {
public:
    ProcessManager(const abi::BootInfo& bi, user::SlotAllocator& slots, user::RamSource& boot_ram,
                   user::CapVSpace& self, MemoryServer& mm);

    Result<void> start();
    // Spawns from a command line (module name, then arguments) on `core`; `extra` (a capability address in
    // init's CSpace, or abi::no_capability) goes to the child after its two endpoints (task_slot_arguments
    // + 2). unsupported for any core but this init's own, until the multicore issue.
    Result<proc::Pid> spawn(core::StringRef command_line, std::uint64_t core,
                            abi::CapAddr extra = abi::no_capability);
    // Waits for the next request or end of a child and handles it.
    void serve_one();
    unsigned live() const;

    // What the RPC handlers use.
    using Table = proc::ProcessTable<NameBlocks>;
    Table& table() { return table_; }
    user::SlotAllocator& slots() { return slots_; }
    Result<void> control(proc::Pid pid, abi::CapOp op);
    // Getchar: answered at once when a character is there, otherwise when one arrives (in order of asking).
    Result<std::optional<char>> getchar(Channel& asker, ipc::ReplyToken<proto::Getchar> token);
    // A channel going away takes its pending getchar with it.
    void forget_getchar(Channel& asker);
    Result<std::uint32_t> kill_all(core::StringRef name);
    // RAM handed to pid and not yet returned.
    std::uint64_t ram_of(proc::Pid pid) const;

private:
    struct Child {
        bool live = false;
        proc::Pid pid = 0;
        Channel* channel = nullptr;
        RamGrant pool;
        std::uint32_t root_slot = 0;
        abi::CapAddr dispatcher = 0;
        std::uint64_t generation = 0; // in the request badge
    };

    Result<void> place_child(std::size_t index, const char* cmd, core::StringRef name, abi::CapAddr extra);
    void reap(Child& c);
    static void on_console(void* self, const sys::LmpMessage& m, abi::CapAddr cap);
    static void on_notice(void* self, const sys::LmpMessage& m, abi::CapAddr cap);
    static void on_request(void* self, const sys::LmpMessage& m, abi::CapAddr cap);
    void console_input();
    bool next_char(char& c);
    void reclaim(Child& c);
    void forget_exited();
    Child* child_of(proc::Pid pid);

    const abi::BootInfo& bi_;
    user::SlotAllocator& slots_;
    user::RamSource& boot_ram_;
    user::CapVSpace& self_;
    MemoryServer& mm_;
    NameBlocks names_;
    proc::Process process_slots_[max_children];
    Table table_;
    Child children_[max_children];
    std::uint64_t generations_[max_children] = {};
    alignas(Channel) unsigned char channel_storage_[max_children][sizeof(Channel)];
    user::SlotAllocator::Slot endpoint_{};
    user::SlotAllocator::Slot landing_{}; // where a capability a child sends arrives
    user::Waitset waitset_{0, {}};
    std::span<std::byte> request_buffers_[max_children]; // one per child slot, mapped once at start
    // The console: characters read but not handed out yet, and the getchar calls waiting for one.
    char typed_[64] = {};
    std::size_t typed_head_ = 0, typed_count_ = 0;
    struct PendingGetchar {
        Channel* asker;
        ipc::ReplyToken<proto::Getchar> token;
    };
    PendingGetchar getchars_[max_children] = {};
    std::size_t getchar_count_ = 0;
};

} // namespace aos::init
