// The process table init keeps: O(1) lookup by PID, lookup by name, process states with exit status, names
// of any length (stored through an allocator policy), and the waiters on each process.
//
//   aos::proc::ProcessTable<NameHeap> table(slots, names, /*core=*/0);   // slots: a span the embedder owns
//   aos::proc::Pid pid = AOS_TRY(table.create("hello"));
//   AOS_TRY(table.wait(pid, waiter));            // waiter.done() runs when the process exits
//   table.exit(pid, 0);                          // wakes every waiter with the status
//   AOS_TRY(table.reap(pid));                    // the PID becomes free once nobody can ask about it
#pragma once

#include <aos/core/avl_tree.hpp>
#include <aos/core/bitfield.hpp>
#include <aos/core/list.hpp>
#include <aos/core/lock.hpp>
#include <aos/core/result.hpp>
#include <aos/core/string_ref.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace aos::proc {

// A PID: the core that owns the process in the high bits (PIDs travel between cores), then a generation
// that changes whenever a slot is reused, then the slot. Valid PIDs are never 0.
using Pid = std::uint32_t;
using PidSlot = core::BitField<Pid, 0, 16>;
using PidGeneration = core::BitField<Pid, 16, 8>;
using PidCore = core::BitField<Pid, 24, 8>;
inline constexpr std::size_t process_table_max_slots = PidSlot::max + 1;

enum class ProcessState : std::uint8_t { running, suspended, exited };

// Where names live. init plugs in its heap (malloc-backed), the kernel a fixed arena, hosted tests
// std::malloc. `allocate` may fail; `release` gets back exactly what `allocate` returned.
template <class A>
concept NameAllocator = requires(A& a, std::size_t n, char* p) {
    { a.allocate(n) } -> std::same_as<char*>;
    { a.release(p, n) } -> std::same_as<void>;
};

// Someone waiting for a process to exit: init links one per pending `wait` request; `done` gets the status.
struct ProcessWaiter {
    core::ListHook<ProcessWaiter> hook;
    Pid pid = 0;
    int status = 0;
    void (*done)(ProcessWaiter& self) = nullptr;
};

struct Process {
    Pid pid = 0;
    ProcessState state = ProcessState::running;
    int exit_status = 0;
    core::StringRef name;
    core::TreeHook<Process> name_hook;
    core::IntrusiveList<ProcessWaiter, &ProcessWaiter::hook> waiters;
    core::ListHook<Process> free_hook; // on the table's free queue while the slot is unused
    bool in_use = false;
};

namespace detail {
inline int compare_names(core::StringRef a, core::StringRef b) {
    std::size_t n = a.size < b.size ? a.size : b.size;
    for (std::size_t i = 0; i < n; ++i) {
        if (a.data[i] != b.data[i])
            return static_cast<unsigned char>(a.data[i]) < static_cast<unsigned char>(b.data[i]) ? -1 : 1;
    }
    return a.size == b.size ? 0 : (a.size < b.size ? -1 : 1);
}
struct ByName {
    static constexpr bool allow_duplicates = true; // several processes may run the same program
    static bool less(const Process& a, const Process& b) {
        int c = compare_names(a.name, b.name);
        return c != 0 ? c < 0 : a.pid < b.pid;
    }
};
} // namespace detail

template <NameAllocator Names, core::Lock Lock = core::NullLock>
class ProcessTable {
    using NameTree = core::AvlTree<Process, &Process::name_hook, detail::ByName>;

public:
    // `slots` is the table's storage (at most process_table_max_slots); `core_id` goes into every PID.
    ProcessTable(std::span<Process> slots, Names& names, std::uint8_t core_id)
        : slots_(slots.data()),
          capacity_(slots.size() < process_table_max_slots ? slots.size() : process_table_max_slots),
          names_(names), core_(core_id) {
        for (std::size_t i = 0; i < capacity_; ++i)
            (void)free_.push_back(slots_[i]); // cannot fail: fresh hooks
    }

    // Gives every stored name back to the allocator. Waiters still linked are dropped without completing.
    ~ProcessTable() {
        for (std::size_t i = 0; i < capacity_; ++i) {
            Process& p = slots_[i];
            if (!p.in_use)
                continue;
            while (p.waiters.pop_front() != nullptr)
                ;
            names_.release(const_cast<char*>(p.name.data), p.name.size);
        }
        names_tree_.clear();
    }
    ProcessTable(const ProcessTable&) = delete;
    ProcessTable& operator=(const ProcessTable&) = delete;

    std::size_t size() const { return used_; }
    std::size_t capacity() const { return capacity_; }

    // A new running process. Fails with no_memory when every slot is taken or the name cannot be stored,
    // invalid_argument for an empty name; nothing changes then.
    Result<Pid> create(core::StringRef name) {
        core::LockGuard guard(lock_);
        if (name.size == 0 || name.data == nullptr)
            return error(Errc::invalid_argument);
        Process* p = free_slot();
        if (p == nullptr)
            return error(Errc::no_memory);
        char* copy = names_.allocate(name.size);
        if (copy == nullptr)
            return error(Errc::no_memory);
        for (std::size_t i = 0; i < name.size; ++i)
            copy[i] = name.data[i];
        (void)free_.erase(*p);
        std::size_t slot = static_cast<std::size_t>(p - slots_);
        Pid pid = PidCore::make(core_) | PidGeneration::make(next_generation(p->pid)) |
                  PidSlot::make(static_cast<Pid>(slot));
        p->pid = pid;
        p->state = ProcessState::running;
        p->exit_status = 0;
        p->name = core::StringRef{copy, name.size};
        p->in_use = true;
        (void)names_tree_.insert(*p); // cannot fail: the PID makes the key unique
        ++used_;
        return pid;
    }

    // O(1): the slot, then the generation.
    Result<const Process*> find(Pid pid) const {
        core::LockGuard guard(lock_);
        return lookup(pid);
    }

    // The live process with this name and the lowest PID.
    Result<Pid> find_by_name(core::StringRef name) const {
        core::LockGuard guard(lock_);
        const Process* p =
            names_tree_.lower_bound([&](const Process& x) { return detail::compare_names(x.name, name); });
        if (p == nullptr || detail::compare_names(p->name, name) != 0)
            return error(Errc::not_found);
        for (; p != nullptr && detail::compare_names(p->name, name) == 0; p = NameTree::next(*p)) {
            if (p->state != ProcessState::exited)
                return p->pid;
        }
        return error(Errc::not_found);
    }

    // Calls f(pid) for every live (not exited) process with this name, in PID order.
    template <class F>
    void for_each_named(core::StringRef name, F&& f) const {
        core::LockGuard guard(lock_);
        for (const Process* p = names_tree_.lower_bound(
                 [&](const Process& x) { return detail::compare_names(x.name, name); });
             p != nullptr && detail::compare_names(p->name, name) == 0; p = NameTree::next(*p)) {
            if (p->state != ProcessState::exited)
                f(p->pid);
        }
    }

    // Calls f(const Process&) for every process in the table, in slot order.
    template <class F>
    void for_each(F&& f) const {
        core::LockGuard guard(lock_);
        for (std::size_t i = 0; i < capacity_; ++i) {
            if (slots_[i].in_use)
                f(static_cast<const Process&>(slots_[i]));
        }
    }

    Result<void> suspend(Pid pid) {
        return change_state(pid, ProcessState::running, ProcessState::suspended);
    }
    Result<void> resume(Pid pid) { return change_state(pid, ProcessState::suspended, ProcessState::running); }

    // Records the exit and completes every waiter (their `done` runs here, in registration order, and must
    // not call back into the table).
    Result<void> exit(Pid pid, int status) {
        core::LockGuard guard(lock_);
        Process* p = AOS_TRY(lookup_mutable(pid));
        if (p->state == ProcessState::exited)
            return error(Errc::invalid_argument);
        p->state = ProcessState::exited;
        p->exit_status = status;
        while (ProcessWaiter* w = p->waiters.pop_front()) {
            w->status = status;
            if (w->done != nullptr)
                w->done(*w);
        }
        return ok();
    }

    // Waits for pid to exit: if it has, the waiter completes at once; otherwise when it does.
    Result<void> wait(Pid pid, ProcessWaiter& w) {
        core::LockGuard guard(lock_);
        Process* p = AOS_TRY(lookup_mutable(pid));
        if (w.hook.linked())
            return error(Errc::already_linked);
        w.pid = pid;
        if (p->state == ProcessState::exited) {
            w.status = p->exit_status;
            if (w.done != nullptr)
                w.done(w);
            return ok();
        }
        return p->waiters.push_back(w);
    }

    // A waiter that gives up (its client went away).
    Result<void> cancel_wait(ProcessWaiter& w) {
        core::LockGuard guard(lock_);
        Process* p = AOS_TRY(lookup_mutable(w.pid));
        return p->waiters.erase(w);
    }

    // Frees an exited process's slot and name. The PID's generation changes, so the PID is not handed out
    // again until the generation wraps (256 reuses of this slot).
    Result<void> reap(Pid pid) {
        core::LockGuard guard(lock_);
        Process* p = AOS_TRY(lookup_mutable(pid));
        if (p->state != ProcessState::exited)
            return error(Errc::busy);
        if (!p->waiters.empty())
            return error(Errc::busy);
        (void)names_tree_.erase(*p);
        names_.release(const_cast<char*>(p->name.data), p->name.size);
        p->name = {};
        p->in_use = false;
        (void)free_.push_back(*p);
        --used_;
        return ok();
    }

    [[nodiscard]] bool check_invariants() const {
        core::LockGuard guard(lock_);
        if (!names_tree_.check_invariants() || names_tree_.size() != used_)
            return false;
        std::size_t count = 0;
        for (std::size_t i = 0; i < capacity_; ++i) {
            const Process& p = slots_[i];
            if (!p.in_use)
                continue;
            ++count;
            if (PidSlot::get(p.pid) != i || PidCore::get(p.pid) != core_ || PidGeneration::get(p.pid) == 0)
                return false;
            if (!names_tree_.contains(p) || !p.waiters.check_invariants())
                return false;
            if (p.state == ProcessState::exited && !p.waiters.empty())
                return false;
        }
        return count == used_ && free_.size() == capacity_ - used_ && free_.check_invariants();
    }

private:
    static Pid next_generation(Pid old) {
        Pid g = PidGeneration::get(old) + 1;
        return g > PidGeneration::max ? 1 : g; // never 0, so no valid PID is 0
    }

    // O(1). A queue, so a freed slot is reused last and its PIDs stay unused as long as possible.
    Process* free_slot() { return free_.front(); }

    Result<const Process*> lookup(Pid pid) const {
        std::size_t slot = PidSlot::get(pid);
        if (PidCore::get(pid) != core_ || slot >= capacity_ || !slots_[slot].in_use ||
            slots_[slot].pid != pid)
            return error(Errc::not_found);
        return static_cast<const Process*>(&slots_[slot]);
    }
    Result<Process*> lookup_mutable(Pid pid) {
        const Process* p = AOS_TRY(lookup(pid));
        return const_cast<Process*>(p);
    }

    Result<void> change_state(Pid pid, ProcessState from, ProcessState to) {
        core::LockGuard guard(lock_);
        Process* p = AOS_TRY(lookup_mutable(pid));
        if (p->state != from)
            return error(Errc::invalid_argument);
        p->state = to;
        return ok();
    }

    Process* slots_;
    std::size_t capacity_;
    Names& names_;
    std::uint8_t core_;
    std::size_t used_ = 0;
    core::IntrusiveList<Process, &Process::free_hook> free_;
    NameTree names_tree_;
    mutable Lock lock_;
};

} // namespace aos::proc
