// aos::boot::Fdt against the device tree QEMU's virt board really produces (dumped by the build with
// -machine dumpdtb), against small trees built here, and against corrupted blobs: every error is reported,
// nothing is read out of bounds (AddressSanitizer watches).
#include "catch.hpp"
#include "test_files.hpp"
#include "test_support.hpp"

#include <aos/boot/fdt.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

using aos::Errc;
using aos::boot::Fdt;
using aos::boot::FdtNode;

namespace {

std::vector<std::uint8_t> load_virt_dtb() {
    return aos_test::read_test_file("AOS_VIRT_DTB");
}

void put32(std::vector<std::uint8_t>& v, std::size_t off, std::uint32_t x) {
    v[off] = static_cast<std::uint8_t>(x >> 24);
    v[off + 1] = static_cast<std::uint8_t>(x >> 16);
    v[off + 2] = static_cast<std::uint8_t>(x >> 8);
    v[off + 3] = static_cast<std::uint8_t>(x);
}

// Builds a flattened tree token by token.
class Builder {
public:
    void begin(const std::string& name) {
        u32(aos::boot::fdt_format::token_begin_node);
        bytes(name.c_str(), name.size() + 1);
        pad();
    }
    void end() { u32(aos::boot::fdt_format::token_end_node); }
    void prop(const std::string& name, const std::vector<std::uint8_t>& value) {
        u32(aos::boot::fdt_format::token_prop);
        u32(static_cast<std::uint32_t>(value.size()));
        u32(string_offset(name));
        bytes(value.data(), value.size());
        pad();
    }
    void prop_str(const std::string& name, const std::string& s) {
        prop(name, std::vector<std::uint8_t>(s.c_str(), s.c_str() + s.size() + 1));
    }
    void prop_cells(const std::string& name, const std::vector<std::uint32_t>& cells) {
        std::vector<std::uint8_t> v(cells.size() * 4);
        for (std::size_t i = 0; i < cells.size(); ++i)
            put32(v, i * 4, cells[i]);
        prop(name, v);
    }
    std::vector<std::uint8_t> finish() {
        u32(aos::boot::fdt_format::token_end);
        constexpr std::uint32_t rsv_off = 40, rsv_size = 16;
        std::uint32_t struct_off = rsv_off + rsv_size;
        std::uint32_t strings_off = struct_off + static_cast<std::uint32_t>(struct_.size());
        std::uint32_t total = strings_off + static_cast<std::uint32_t>(strings_.size());
        std::vector<std::uint8_t> blob(total, 0);
        put32(blob, 0, aos::boot::fdt_format::magic);
        put32(blob, 4, total);
        put32(blob, 8, struct_off);
        put32(blob, 12, strings_off);
        put32(blob, 16, rsv_off);
        put32(blob, 20, 17);
        put32(blob, 24, 16);
        put32(blob, 32, static_cast<std::uint32_t>(strings_.size()));
        put32(blob, 36, static_cast<std::uint32_t>(struct_.size()));
        std::copy(struct_.begin(), struct_.end(), blob.begin() + struct_off);
        std::copy(strings_.begin(), strings_.end(), blob.begin() + strings_off);
        return blob;
    }

private:
    void u32(std::uint32_t x) {
        struct_.resize(struct_.size() + 4);
        put32(struct_, struct_.size() - 4, x);
    }
    void bytes(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::uint8_t*>(p);
        struct_.insert(struct_.end(), b, b + n);
    }
    void pad() {
        while (struct_.size() % 4 != 0)
            struct_.push_back(0);
    }
    std::uint32_t string_offset(const std::string& s) {
        auto it = offsets_.find(s);
        if (it != offsets_.end())
            return it->second;
        auto off = static_cast<std::uint32_t>(strings_.size());
        strings_.insert(strings_.end(), s.begin(), s.end());
        strings_.push_back(0);
        offsets_[s] = off;
        return off;
    }
    std::vector<std::uint8_t> struct_, strings_;
    std::map<std::string, std::uint32_t> offsets_;
};

std::vector<std::uint8_t> small_tree() {
    Builder b;
    b.begin("");
    b.prop_cells("#address-cells", {1});
    b.prop_cells("#size-cells", {1});
    b.begin("memory@80000000");
    b.prop_str("device_type", "memory");
    b.prop_cells("reg", {0x80000000, 0x1000000, 0x90000000, 0x2000000});
    b.end();
    b.begin("soc");
    b.begin("uart@1000");
    b.prop("compatible", {'v', 'e', 'n', 'd', 0, 'a', 'r', 'm', ',', 'p', 'l', '0', '1', '1', 0});
    b.prop_cells("reg", {0x1000, 0x100});
    b.end();
    b.end();
    b.end();
    return b.finish();
}

Errc parse_error(const std::vector<std::uint8_t>& blob, std::string* field = nullptr, std::size_t avail = 0) {
    const char* where = nullptr;
    auto r = Fdt::parse(blob.data(), avail != 0 ? avail : blob.size(), &where);
    REQUIRE_FALSE(r);
    if (field != nullptr)
        *field = where != nullptr ? where : "";
    return r.error();
}

} // namespace

TEST_CASE("QEMU virt tree: RAM, CPUs, UART, PSCI, chosen") {
    auto blob = load_virt_dtb();
    auto fdt = Fdt::parse(blob.data(), blob.size());
    REQUIRE(fdt);
    REQUIRE(fdt->total_size() <= blob.size());

    std::vector<std::pair<std::uint64_t, std::uint64_t>> ram;
    fdt->for_each_node([&](FdtNode n, FdtNode parent, unsigned) {
        if (fdt->is_device_type(n, "memory"))
            REQUIRE(fdt->for_each_reg(n, parent,
                                      [&](std::uint64_t a, std::uint64_t s) { ram.emplace_back(a, s); }));
        return true;
    });
    // The build dumps the tree with -m 512M.
    REQUIRE(ram == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0x40000000, 512ull << 20}});

    auto cpus = fdt->find_path("/cpus");
    REQUIRE(cpus);
    int cpu_count = 0;
    fdt->for_each_child(*cpus, [&](FdtNode c) {
        cpu_count += fdt->is_device_type(c, "cpu") ? 1 : 0;
        return true;
    });
    REQUIRE(cpu_count == 2);

    auto uart = fdt->find_compatible("arm,pl011");
    REQUIRE(uart);
    REQUIRE(std::string(fdt->name(*uart)) == "pl011@9000000");
    std::uint64_t uart_base = 0;
    REQUIRE(fdt->for_each_reg(*uart, fdt->parent_of(*uart),
                              [&](std::uint64_t a, std::uint64_t) { uart_base = a; }));
    REQUIRE(uart_base == 0x9000000);

    auto psci = fdt->find_path("/psci");
    REQUIRE(psci);
    REQUIRE(fdt->has_string(*psci, "method", "hvc"));
    REQUIRE(fdt->find_path("/chosen"));
    auto stdout_path = fdt->string(*fdt->find_path("/chosen"), "stdout-path");
    REQUIRE(stdout_path);
    REQUIRE(std::string(*stdout_path) == "/pl011@9000000");
    REQUIRE(fdt->find_path("/memory")); // unit address optional in a path
    REQUIRE(fdt->find_path("/memory@40000000"));
    REQUIRE(fdt->find_path("/memory@50000000").error() == Errc::not_found);
    REQUIRE(fdt->find_path("/nonexistent/x").error() == Errc::not_found);
    REQUIRE(fdt->find_path("relative").error() == Errc::invalid_argument);
    REQUIRE(fdt->find_compatible("no,such-device").error() == Errc::not_found);
}

TEST_CASE("small tree: one-cell reg, string lists, parents, children") {
    auto blob = small_tree();
    auto fdt = Fdt::parse(blob.data(), blob.size());
    REQUIRE(fdt);
    auto mem = fdt->find_path("/memory");
    REQUIRE(mem);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ram;
    REQUIRE(fdt->for_each_reg(*mem, fdt->root(),
                              [&](std::uint64_t a, std::uint64_t s) { ram.emplace_back(a, s); }));
    REQUIRE(ram.size() == 2);
    REQUIRE(ram[1] == std::make_pair(std::uint64_t{0x90000000}, std::uint64_t{0x2000000}));
    auto uart = fdt->find_compatible("arm,pl011"); // second string of the list
    REQUIRE(uart);
    REQUIRE(fdt->is_compatible(*uart, "vend"));
    REQUIRE_FALSE(fdt->is_compatible(*uart, "arm"));
    auto soc = fdt->find_path("/soc");
    REQUIRE(soc);
    REQUIRE(fdt->parent_of(*uart) == *soc);
    REQUIRE(fdt->parent_of(*soc) == fdt->root());
    // soc has no #address-cells: the defaults (2, 1) make uart's two-cell reg malformed.
    REQUIRE(fdt->for_each_reg(*uart, *soc, [](std::uint64_t, std::uint64_t) {}).error() == Errc::malformed);
    REQUIRE(fdt->u32(*mem, "device_type").error() == Errc::malformed);
    REQUIRE(fdt->string(*mem, "nope").error() == Errc::not_found);
    std::vector<std::string> children;
    fdt->for_each_child(fdt->root(), [&](FdtNode c) {
        children.emplace_back(fdt->name(c));
        return true;
    });
    REQUIRE(children == std::vector<std::string>{"memory@80000000", "soc"});
}

TEST_CASE("header errors name the field") {
    auto good = small_tree();
    std::string field;
    {
        auto b = good;
        b[0] ^= 0xff;
        REQUIRE(parse_error(b, &field) == Errc::bad_magic);
        REQUIRE(field == "magic");
    }
    REQUIRE(parse_error(good, &field, good.size() - 1) == Errc::truncated);
    REQUIRE(field == "totalsize");
    REQUIRE(parse_error(good, &field, 39) == Errc::truncated);
    {
        auto b = good;
        put32(b, 20, 16); // version 16
        REQUIRE(parse_error(b, &field) == Errc::bad_version);
        REQUIRE(field == "version");
    }
    {
        auto b = good;
        put32(b, 8,
              static_cast<std::uint32_t>((b.size() + 3) & ~std::size_t{3})); // struct block past the end
        REQUIRE(parse_error(b, &field) == Errc::out_of_range);
        REQUIRE(field == "off_dt_struct");
    }
    {
        auto b = good;
        put32(b, 8, 58); // misaligned struct block
        REQUIRE(parse_error(b, &field) == Errc::misaligned);
    }
    {
        auto b = good;
        put32(b, 16, 4); // reservation map inside the header, and misaligned
        REQUIRE(parse_error(b, &field) == Errc::misaligned);
        REQUIRE(field == "off_mem_rsvmap");
    }
    {
        auto b = good;
        put32(b, 16, static_cast<std::uint32_t>((b.size() - 8) & ~std::size_t{7})); // no room to terminate
        REQUIRE(parse_error(b, &field) == Errc::truncated);
        REQUIRE(field == "mem_rsvmap");
    }
}

TEST_CASE("structure errors") {
    auto good = small_tree();
    std::uint32_t struct_off = Fdt::be32(good.data() + 8);
    std::uint32_t struct_size = Fdt::be32(good.data() + 36);
    std::string field;
    {
        auto b = good;
        put32(b, struct_off, 7); // unknown first token
        REQUIRE(parse_error(b, &field) == Errc::malformed);
    }
    {
        auto b = good;
        put32(b, struct_off + struct_size - 4, aos::boot::fdt_format::token_nop); // FDT_END gone
        REQUIRE(parse_error(b, &field) == Errc::truncated);
        REQUIRE(field == "struct: missing FDT_END");
    }
    {
        // First property of the root: "#address-cells" at struct offset 8 (token, len, nameoff).
        auto b = good;
        put32(b, struct_off + 8 + 8, 0x10000); // name offset beyond the strings block
        REQUIRE(parse_error(b, &field) == Errc::out_of_range);
        REQUIRE(field == "struct: property name offset");
    }
    {
        auto b = good;
        put32(b, struct_off + 8 + 4, 0x7fffffff); // property longer than the block
        REQUIRE(parse_error(b, &field) == Errc::truncated);
        REQUIRE(field == "struct: property value");
    }
    {
        auto b = good;
        put32(b, 36, struct_size - 8); // struct block ends early: END_NODE of the root missing
        REQUIRE_FALSE(Fdt::parse(b.data(), b.size()));
    }
}

TEST_CASE("deep nesting is refused, not overflowed") {
    Builder b;
    b.begin("");
    for (unsigned i = 0; i < aos::boot::fdt_format::max_depth + 2; ++i)
        b.begin("n");
    for (unsigned i = 0; i < aos::boot::fdt_format::max_depth + 2; ++i)
        b.end();
    b.end();
    auto blob = b.finish();
    std::string field;
    REQUIRE(parse_error(blob, &field) == Errc::unsupported);
    REQUIRE(field == "struct: nesting");
}

TEST_CASE("randomly corrupted QEMU trees are rejected or read in bounds") {
    auto pristine = load_virt_dtb();
    std::uint32_t total = Fdt::peek_total_size(pristine.data());
    REQUIRE(total != 0);
    pristine.resize(total); // ASan then flags any read past the blob
    std::mt19937_64 rng(aos_test::seed("fdt corruption"));
    unsigned accepted = 0;
    for (unsigned round = 0; round < aos_test::iterations(300); ++round) {
        auto b = pristine;
        unsigned flips = 1 + static_cast<unsigned>(rng() % 8);
        for (unsigned i = 0; i < flips; ++i) {
            // Aim most flips at the header and structure, where the decisions are.
            std::size_t limit = rng() % 2 ? 4096 : b.size();
            b[rng() % std::min(limit, b.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        }
        auto fdt = Fdt::parse(b.data(), b.size());
        if (!fdt)
            continue;
        ++accepted;
        std::size_t props = 0;
        fdt->for_each_node([&](FdtNode n, FdtNode parent, unsigned) {
            fdt->for_each_property(n, [&](aos::boot::FdtProperty p) {
                props += p.size + std::strlen(p.name);
                return true;
            });
            (void)fdt->for_each_reg(n, parent, [](std::uint64_t, std::uint64_t) {});
            (void)fdt->is_compatible(n, "arm,pl011");
            (void)fdt->string(n, "status");
            return true;
        });
        (void)fdt->find_path("/cpus/cpu@0");
        REQUIRE(props > 0);
    }
    // Flips in property values and names leave a valid tree: some must have been accepted and walked, or
    // the walk above was never exercised.
    INFO("accepted " << accepted << " corrupted trees");
    REQUIRE(accepted > 0);
}
