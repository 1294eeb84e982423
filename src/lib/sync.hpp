// Locks for the threads of one process (src/lib/thread.hpp): a mutex that yields while another thread
// holds it (a core::Lock, held with core::LockGuard), and a condition variable on top. One core, several
// dispatchers: yielding lets the holder run.
#pragma once

#include "syscalls.hpp"

#include <aos/core/lock.hpp>

#include <atomic>

namespace aos::thread {

class Mutex {
public:
    void lock() {
        while (held_.exchange(true, std::memory_order_acquire))
            (void)sys::yield();
    }
    bool try_lock() { return !held_.exchange(true, std::memory_order_acquire); }
    void unlock() { held_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> held_{false};
};

// wait() gives up the mutex until a signal or broadcast after it began, then takes it back.
class CondVar {
public:
    void wait(Mutex& m) {
        unsigned seen = sequence_.load(std::memory_order_acquire);
        m.unlock();
        while (sequence_.load(std::memory_order_acquire) == seen)
            (void)sys::yield();
        m.lock();
    }
    // Wakes the waiters, all of them (each re-checks its condition, as with any condition variable), so
    // signal is broadcast.
    void broadcast() { sequence_.fetch_add(1, std::memory_order_release); }
    void signal() { broadcast(); }

private:
    std::atomic<unsigned> sequence_{0};
};

static_assert(core::Lock<Mutex>, "held with core::LockGuard like the library's locks");

} // namespace aos::thread
