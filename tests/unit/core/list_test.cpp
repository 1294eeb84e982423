// aos::core::IntrusiveList: order, errors on misuse, and a randomized run against std::list.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/core/list.hpp>

#include <algorithm>
#include <list>
#include <random>
#include <vector>

namespace {
struct Node {
    aos::core::ListHook<Node> hook;
    int id = 0;
};
using List = aos::core::IntrusiveList<Node, &Node::hook>;

std::vector<int> ids(const List& l) {
    std::vector<int> out;
    for (const Node& n : l)
        out.push_back(n.id);
    return out;
}
} // namespace

TEST_CASE("push, insert, erase keep order") {
    Node n[4];
    for (int i = 0; i < 4; ++i)
        n[i].id = i;
    List l;
    REQUIRE(l.push_back(n[1]));
    REQUIRE(l.push_front(n[0]));
    REQUIRE(l.push_back(n[3]));
    REQUIRE(l.insert_before(&n[3], n[2]));
    REQUIRE(ids(l) == std::vector<int>{0, 1, 2, 3});
    REQUIRE(l.size() == 4);
    REQUIRE(l.erase(n[2]));
    REQUIRE(ids(l) == std::vector<int>{0, 1, 3});
    REQUIRE(l.pop_front() == &n[0]);
    REQUIRE(l.pop_back() == &n[3]);
    REQUIRE(l.check_invariants());
    REQUIRE(l.size() == 1);
}

TEST_CASE("misuse is an error that changes nothing") {
    Node a, b;
    List l1, l2;
    REQUIRE(l1.push_back(a));
    REQUIRE(l1.push_back(a).error() == aos::Errc::already_linked);
    REQUIRE(l2.push_back(a).error() == aos::Errc::already_linked);
    REQUIRE(l2.erase(a).error() == aos::Errc::not_linked);
    REQUIRE(l1.erase(b).error() == aos::Errc::not_linked);
    REQUIRE(l2.insert_before(&a, b).error() == aos::Errc::not_linked); // position in another list
    REQUIRE(l1.size() == 1);
    REQUIRE(l2.empty());
    REQUIRE_FALSE(b.hook.linked());
    REQUIRE(l1.check_invariants());
    REQUIRE(l2.check_invariants());
}

TEST_CASE("randomized operations match std::list") {
    std::mt19937_64 rng(aos_test::seed("list randomized"));
    constexpr int pool_size = 64;
    std::vector<Node> pool(pool_size);
    for (int i = 0; i < pool_size; ++i)
        pool[i].id = i;
    List l;
    std::list<int> model;
    for (unsigned step = 0; step < aos_test::iterations(20000); ++step) {
        Node& n = pool[rng() % pool_size];
        bool in = std::find(model.begin(), model.end(), n.id) != model.end();
        switch (rng() % 3) {
        case 0:
            REQUIRE(static_cast<bool>(l.push_back(n)) == !in);
            if (!in)
                model.push_back(n.id);
            break;
        case 1:
            REQUIRE(static_cast<bool>(l.push_front(n)) == !in);
            if (!in)
                model.push_front(n.id);
            break;
        default:
            REQUIRE(static_cast<bool>(l.erase(n)) == in);
            if (in)
                model.remove(n.id);
        }
        if (step % 64 == 0) {
            REQUIRE(l.check_invariants());
            REQUIRE(ids(l) == std::vector<int>(model.begin(), model.end()));
        }
    }
}
