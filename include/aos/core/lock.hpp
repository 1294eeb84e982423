// Lock policies for library containers: NullLock where the embedder serializes (a single-threaded init, a
// hosted test), SpinLock where several cores or threads share a structure (the kernel, a threaded server).
//
//   aos::core::SpinLock lock;
//   { aos::core::LockGuard guard(lock); ... }
#pragma once

#include <atomic>
#include <concepts>

namespace aos::core {

// A hint to the core that this thread is busy-waiting (lets an SMT sibling or the interconnect make
// progress).
inline void cpu_relax() {
#if defined(__aarch64__)
    __asm__ volatile("yield");
#elif defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// What a container needs of a lock: exclusive lock and unlock. The kernel plugs in SpinLock (with
// interrupts masked by the caller), init a NullLock or its thread mutex, hosted tests NullLock or SpinLock.
template <class L>
concept Lock = requires(L& l) {
    { l.lock() } -> std::same_as<void>;
    { l.unlock() } -> std::same_as<void>;
};

struct NullLock {
    void lock() {}
    void unlock() {}
};

class SpinLock {
public:
    void lock() {
        // Test-and-test-and-set: spin on a plain load so waiters share the line instead of bouncing it.
        while (held_.exchange(true, std::memory_order_acquire)) {
            while (held_.load(std::memory_order_relaxed))
                cpu_relax();
        }
    }
    bool try_lock() { return !held_.exchange(true, std::memory_order_acquire); }
    void unlock() { held_.store(false, std::memory_order_release); }
    bool is_locked() const { return held_.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> held_{false};
};

template <Lock L>
class [[nodiscard]] LockGuard {
public:
    explicit LockGuard(L& l) : lock_(l) { lock_.lock(); }
    ~LockGuard() { lock_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    L& lock_;
};

static_assert(Lock<NullLock>);
static_assert(Lock<SpinLock>);

} // namespace aos::core
