// Policies the memory library's hosted tests plug in: a fake capability system that checks parentage and
// exact accounting, and a counting heap node allocator that can be told to run dry.
#pragma once

#include <aos/arch/page.hpp>
#include <aos/core/result.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <utility>

namespace mm_test {

struct FakeCap {
    std::uint64_t id = 0;
    bool operator==(const FakeCap&) const = default;
};

// Originals are registered by the test; every retype must come from one original and stay inside it;
// every released byte must belong to a live derived capability and come back only once; destroy only
// when every byte came back.
class FakeCaps {
public:
    using Cap = FakeCap;

    struct Derived {
        std::uint64_t parent = 0;
        std::uint64_t offset = 0;
        std::uint64_t size = 0;
        std::set<std::uint64_t> returned_pages; // offsets within the derived capability
        bool destroyed = false;
    };

    FakeCap original(std::uint64_t size) {
        FakeCap c{next_id_++};
        originals_[c.id] = size;
        return c;
    }

    aos::Result<Cap> retype(const Cap& c, std::uint64_t offset, std::uint64_t size) {
        if (fail_retypes > 0) {
            --fail_retypes;
            return aos::error(aos::Errc::permission_denied);
        }
        auto it = originals_.find(c.id);
        if (it == originals_.end() || offset + size > it->second || size == 0)
            violations++;
        FakeCap d{next_id_++};
        derived_[d.id] = Derived{c.id, offset, size, {}, false};
        return d;
    }
    void release(const Cap& c, std::uint64_t offset, std::uint64_t size) {
        auto it = derived_.find(c.id);
        if (it == derived_.end() || it->second.destroyed || offset + size > it->second.size) {
            violations++;
            return;
        }
        for (std::uint64_t p = offset; p < offset + size; p += aos::arch::page_size) {
            if (!it->second.returned_pages.insert(p).second)
                violations++;
        }
    }
    void destroy(const Cap& c) {
        auto it = derived_.find(c.id);
        if (it == derived_.end() || it->second.destroyed ||
            it->second.returned_pages.size() * aos::arch::page_size != it->second.size) {
            violations++;
            return;
        }
        it->second.destroyed = true;
        ++destroyed;
    }

    const Derived& derived(const Cap& c) const { return derived_.at(c.id); }
    std::size_t live_derived() const {
        std::size_t n = 0;
        for (const auto& [id, d] : derived_)
            n += d.destroyed ? 0 : 1;
        return n;
    }

    int violations = 0;
    int fail_retypes = 0;
    std::size_t destroyed = 0;

private:
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, std::uint64_t> originals_;
    std::map<std::uint64_t, Derived> derived_;
};

template <class Node>
class HeapNodes {
public:
    aos::Result<Node*> allocate() {
        if (limit >= 0 && live >= limit)
            return aos::error(aos::Errc::no_memory);
        ++live;
        return new Node();
    }
    void deallocate(Node* n) {
        --live;
        delete n;
    }
    long live = 0;
    long limit = -1; // < 0: unlimited
};

} // namespace mm_test
