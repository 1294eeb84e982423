// aos::abi::ModuleTable against a table written by tools/pack_modules.py (the tool the image build uses),
// and every validation rule.
#include "catch.hpp"
#include "test_files.hpp"

#include <aos/abi/modules.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using aos::Errc;
using aos::abi::ModuleTable;

namespace {
// Offsets in the packed layout.
constexpr std::size_t entry0 = sizeof(aos::abi::ModuleTableHeader);
constexpr std::size_t entry_offset_field = aos::abi::module_name_max;
constexpr std::size_t entry_size_field = aos::abi::module_name_max + 8;
} // namespace

TEST_CASE("the packing tool's table reads back: names, sizes, contents, alignment") {
    auto blob = aos_test::read_test_file("AOS_MODULE_TABLE");
    auto program = aos_test::read_test_file("AOS_ELF_PROGRAM");
    auto table = ModuleTable::parse(blob.data(), blob.size());
    REQUIRE(table);
    REQUIRE(table->count() == 2);
    REQUIRE(std::string(table->name(0)) == "program");
    REQUIRE(std::string(table->name(1)) == "notes");
    REQUIRE(table->size(0) == program.size());
    REQUIRE(std::memcmp(table->data(0), program.data(), program.size()) == 0);
    REQUIRE(std::string(reinterpret_cast<const char*>(table->data(1)), table->size(1)) ==
            "A second module: any bytes, not only programs.\n");
    REQUIRE((table->data(1) - blob.data()) % aos::abi::module_alignment == 0);
    REQUIRE(*table->find("notes") == 1);
    REQUIRE(table->find("note").error() == Errc::not_found);
    // A word of a longer command line names a module by its length alone.
    REQUIRE(*table->find(aos::core::StringRef{"notes,more", 5}) == 1);
    REQUIRE(table->find(aos::core::StringRef{"notes,more", 4}).error() == Errc::not_found);
}

TEST_CASE("table errors") {
    auto good = aos_test::read_test_file("AOS_MODULE_TABLE");
    auto with = [&](std::size_t off, std::uint64_t v, unsigned bytes) {
        auto b = good;
        for (unsigned i = 0; i < bytes; ++i)
            b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
        return ModuleTable::parse(b.data(), b.size());
    };
    REQUIRE(with(0, 0, 1).error() == Errc::bad_magic);
    REQUIRE(with(8, 2, 4).error() == Errc::bad_version);
    REQUIRE(with(12, 33, 4).error() == Errc::unsupported);
    REQUIRE(with(entry0 + entry_offset_field, 4097, 8).error() == Errc::misaligned);
    REQUIRE(with(entry0 + entry_offset_field, 0, 8).error() == Errc::misaligned); // inside the table itself
    REQUIRE(with(entry0 + entry_size_field, good.size(), 8).error() == Errc::truncated);
    REQUIRE(with(entry0, 0, 1).error() == Errc::malformed); // empty name
    auto unterminated = good;
    std::memset(unterminated.data() + entry0, 'x', aos::abi::module_name_max);
    REQUIRE(ModuleTable::parse(unterminated.data(), unterminated.size()).error() == Errc::malformed);
    REQUIRE(ModuleTable::parse(good.data(), 10).error() == Errc::truncated);
    REQUIRE(ModuleTable::parse(nullptr, 100).error() == Errc::truncated);
}
