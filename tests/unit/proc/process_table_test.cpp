// aos::proc::ProcessTable: PIDs, states, names of any length, waiters, reaping, and a randomized run checked
// against a std::map model.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/proc/process_table.hpp>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

using aos::Errc;
using aos::core::StringRef;
using aos::proc::Pid;
using aos::proc::ProcessState;

namespace {

struct CountingNames {
    std::size_t live_bytes = 0;
    bool fail = false;
    char* allocate(std::size_t n) {
        if (fail)
            return nullptr;
        live_bytes += n;
        return static_cast<char*>(std::malloc(n));
    }
    void release(char* p, std::size_t n) {
        live_bytes -= n;
        std::free(p);
    }
};
static_assert(aos::proc::NameAllocator<CountingNames>);

StringRef sref(const std::string& s) {
    return StringRef{s.data(), s.size()};
}

struct Fixture {
    explicit Fixture(std::size_t n)
        : slots(std::make_unique<aos::proc::Process[]>(n)), table({slots.get(), n}, names, 3) {}
    std::unique_ptr<aos::proc::Process[]> slots;
    CountingNames names;
    aos::proc::ProcessTable<CountingNames> table;
};

void record_status(aos::proc::ProcessWaiter& w) {
    w.pid = static_cast<Pid>(0xdead0000u | static_cast<unsigned>(w.status));
}

} // namespace

TEST_CASE("create, find, states, names of any length") {
    Fixture f(8);
    std::string long_name(5000, 'x');
    Pid a = *f.table.create(sref("hello"));
    Pid b = *f.table.create(sref(long_name));
    Pid c = *f.table.create(sref("hello"));
    REQUIRE(a != 0);
    REQUIRE(aos::proc::PidCore::get(a) == 3);
    REQUIRE(a != b);
    REQUIRE(std::string((*f.table.find(b))->name.data, (*f.table.find(b))->name.size) == long_name);
    REQUIRE(*f.table.find_by_name(sref("hello")) == std::min(a, c));
    std::vector<Pid> named;
    f.table.for_each_named(sref("hello"), [&](Pid p) { named.push_back(p); });
    REQUIRE(named.size() == 2);
    REQUIRE(f.table.find_by_name(sref("hell")).error() == Errc::not_found);
    REQUIRE(f.table.suspend(a));
    REQUIRE((*f.table.find(a))->state == ProcessState::suspended);
    REQUIRE(f.table.suspend(a).error() == Errc::invalid_argument);
    REQUIRE(f.table.resume(a));
    REQUIRE(f.table.resume(a).error() == Errc::invalid_argument);
    REQUIRE(f.table.find(a ^ 0x10000).error() == Errc::not_found); // other generation
    REQUIRE(f.table.find(0).error() == Errc::not_found);
    REQUIRE(f.table.create(StringRef{"", 0}).error() == Errc::invalid_argument);
    REQUIRE(f.table.check_invariants());
    REQUIRE(f.names.live_bytes == 10 + long_name.size());
}

TEST_CASE("exit wakes every waiter; reap frees the slot and the name; PIDs change on reuse") {
    Fixture f(2);
    Pid a = *f.table.create(sref("a"));
    aos::proc::ProcessWaiter w1, w2, late;
    w1.done = w2.done = late.done = record_status;
    REQUIRE(f.table.wait(a, w1));
    REQUIRE(f.table.wait(a, w2));
    REQUIRE(f.table.wait(a, w1).error() == Errc::already_linked);
    REQUIRE(f.table.reap(a).error() == Errc::busy); // still running
    REQUIRE(f.table.exit(a, 42));
    REQUIRE(w1.pid == 0xdead002a);
    REQUIRE(w2.pid == 0xdead002a);
    REQUIRE(f.table.exit(a, 1).error() == Errc::invalid_argument);
    REQUIRE(f.table.find_by_name(sref("a")).error() ==
            Errc::not_found);       // exited processes are not found by name
    REQUIRE(f.table.wait(a, late)); // after the exit: completes at once
    REQUIRE(late.pid == 0xdead002a);
    REQUIRE(f.table.reap(a));
    REQUIRE(f.table.find(a).error() == Errc::not_found);
    REQUIRE(f.names.live_bytes == 0);
    Pid b = *f.table.create(sref("b"));
    Pid c = *f.table.create(sref("c"));
    REQUIRE(f.table.create(sref("d")).error() == Errc::no_memory); // full
    REQUIRE(b != a);
    REQUIRE(c != a);
    REQUIRE(f.table.check_invariants());
}

TEST_CASE("a failed name allocation changes nothing; cancelled waits") {
    Fixture f(4);
    f.names.fail = true;
    REQUIRE(f.table.create(sref("x")).error() == Errc::no_memory);
    REQUIRE(f.table.size() == 0);
    f.names.fail = false;
    Pid p = *f.table.create(sref("x"));
    aos::proc::ProcessWaiter w;
    w.done = record_status;
    REQUIRE(f.table.wait(p, w));
    REQUIRE(f.table.cancel_wait(w));
    REQUIRE(f.table.exit(p, 7));
    REQUIRE(w.pid == p); // not completed
    REQUIRE(f.table.check_invariants());
}

TEST_CASE("randomized create, exit, wait, reap match a model") {
    std::mt19937_64 rng(aos_test::seed("process table randomized"));
    constexpr std::size_t capacity = 64;
    std::vector<std::unique_ptr<aos::proc::ProcessWaiter>> waiters; // outlives the table that links them
    Fixture f(capacity);
    struct Model {
        std::string name;
        bool exited = false;
        int status = 0;
    };
    std::map<Pid, Model> model;
    std::set<Pid> ever;
    for (unsigned step = 0; step < aos_test::iterations(20000); ++step) {
        unsigned op = rng() % 6;
        Pid target =
            model.empty() ? 0 : std::next(model.begin(), static_cast<long>(rng() % model.size()))->first;
        if (op < 2) {
            std::string name = "p" + std::to_string(rng() % 8) + std::string(rng() % 40, 'n');
            auto r = f.table.create(sref(name));
            REQUIRE(static_cast<bool>(r) == (model.size() < capacity));
            if (r) {
                REQUIRE(model.count(*r) == 0);
                model[*r] = Model{name};
                ever.insert(*r);
            }
        } else if (op == 2 && target != 0) {
            int status = static_cast<int>(rng() % 100);
            REQUIRE(static_cast<bool>(f.table.exit(target, status)) == !model[target].exited);
            if (!model[target].exited)
                model[target] = Model{model[target].name, true, status};
        } else if (op == 3 && target != 0) {
            waiters.push_back(std::make_unique<aos::proc::ProcessWaiter>());
            waiters.back()->done = record_status;
            REQUIRE(f.table.wait(target, *waiters.back()));
        } else if (op == 4 && target != 0) {
            auto r = f.table.reap(target);
            REQUIRE(static_cast<bool>(r) == model[target].exited);
            if (r)
                model.erase(target);
        } else if (target != 0) {
            auto found = f.table.find_by_name(sref(model[target].name));
            Pid expect = 0;
            for (auto& [pid, m] : model) {
                if (m.name == model[target].name && !m.exited) {
                    expect = pid;
                    break;
                }
            }
            REQUIRE((found ? *found : 0) == expect);
        }
        REQUIRE(f.table.check_invariants());
        REQUIRE(f.table.size() == model.size());
    }
    // Every waiter of an exited process completed with its status.
    for (auto& w : waiters) {
        if (!w->hook.linked())
            REQUIRE((w->pid & 0xffff0000u) == 0xdead0000u);
    }
}
