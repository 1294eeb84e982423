// The classic student page-table design, as the benchmark's baseline: every table node keeps an array of
// 512 child pointers beside its hardware table, pages are mapped one 4 KiB page at a time, there are no
// block mappings and tables are never freed. Descriptors use the same bits as aos (4 KiB granule, L0-L3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace baseline {

class ClassicPageTable {
public:
    static constexpr unsigned entries = 512;
    static constexpr std::uint64_t page = 4096;

    struct alignas(4096) HwTable {
        std::uint64_t e[entries];
    };
    struct Node {
        HwTable* table;
        Node* child[entries]; // the 4 KiB of bookkeeping per table this design is known for
    };

    // Tables and nodes come from preallocated arrays, as aos's do in the benchmark, so only the design
    // differs, not malloc.
    explicit ClassicPageTable(std::size_t max_tables)
        : tables_(new HwTable[max_tables]), nodes_(new Node[max_tables]), capacity_(max_tables) {
        root_ = new_node();
    }

    // Maps one page; false if it is already mapped or the pool is exhausted.
    bool map_page(std::uint64_t va, std::uint64_t pa, std::uint64_t attrs) {
        Node* n = root_;
        for (unsigned level = 0; level < 3; ++level) {
            unsigned i = index(va, level);
            if (n->child[i] == nullptr) {
                Node* c = new_node();
                if (c == nullptr)
                    return false;
                n->child[i] = c;
                n->table->e[i] = reinterpret_cast<std::uintptr_t>(c->table) | 3;
            }
            n = n->child[i];
        }
        std::uint64_t& e = n->table->e[index(va, 3)];
        if ((e & 1) != 0)
            return false;
        e = pa | attrs | 3;
        return true;
    }

    // Unmaps one page; false if it was not mapped. Tables stay.
    bool unmap_page(std::uint64_t va) {
        Node* n = root_;
        for (unsigned level = 0; level < 3; ++level) {
            n = n->child[index(va, level)];
            if (n == nullptr)
                return false;
        }
        std::uint64_t& e = n->table->e[index(va, 3)];
        if ((e & 1) == 0)
            return false;
        e = 0;
        return true;
    }

    std::size_t table_count() const { return used_; }
    std::size_t metadata_bytes() const { return sizeof(*this) + used_ * sizeof(Node); }

private:
    static unsigned index(std::uint64_t va, unsigned level) {
        return (va >> (39 - 9 * level)) & (entries - 1);
    }

    Node* new_node() {
        if (used_ == capacity_)
            return nullptr;
        Node* n = &nodes_[used_];
        n->table = &tables_[used_];
        ++used_;
        for (auto& e : n->table->e)
            e = 0;
        for (auto& c : n->child)
            c = nullptr;
        return n;
    }

    std::unique_ptr<HwTable[]> tables_;
    std::unique_ptr<Node[]> nodes_;
    std::size_t capacity_;
    std::size_t used_ = 0;
    Node* root_;
};

} // namespace baseline
