// Lock policies: SpinLock excludes across threads; LockGuard releases on scope exit.
#include "catch.hpp"

#include <aos/core/lock.hpp>

#include <thread>
#include <vector>

TEST_CASE("SpinLock serializes increments from several threads") {
    aos::core::SpinLock lock;
    long counter = 0;
    constexpr int threads = 4;
    constexpr int per_thread = 20000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                aos::core::LockGuard guard(lock);
                ++counter;
            }
        });
    }
    for (auto& th : pool)
        th.join();
    REQUIRE(counter == long{threads} * per_thread);
    REQUIRE_FALSE(lock.is_locked());
}

TEST_CASE("try_lock fails while held") {
    aos::core::SpinLock lock;
    REQUIRE(lock.try_lock());
    REQUIRE_FALSE(lock.try_lock());
    lock.unlock();
    {
        aos::core::LockGuard guard(lock);
        REQUIRE(lock.is_locked());
    }
    REQUIRE_FALSE(lock.is_locked());
}
