// aos::boot::CommandLine: flags, key=value words, overrides, whitespace.
#include "catch.hpp"

#include <aos/boot/cmdline.hpp>

#include <string>
#include <vector>

using aos::boot::CommandLine;

TEST_CASE("flags and values") {
    CommandLine cl("  selftest=undefined   semihosting\tquiet=1 quiet ");
    REQUIRE(cl.has_flag("semihosting"));
    REQUIRE(cl.has_flag("quiet"));
    REQUIRE_FALSE(cl.has_flag("semi"));
    REQUIRE_FALSE(cl.has_flag("selftest"));
    auto v = cl.value("selftest");
    REQUIRE(v);
    REQUIRE(std::string(v->data, v->size) == "undefined");
    REQUIRE(v->equals("undefined"));
    REQUIRE_FALSE(v->equals("undefine"));
    REQUIRE(cl.value("self").error() == aos::Errc::not_found);
    REQUIRE(cl.value("semihosting").error() == aos::Errc::not_found);
}

TEST_CASE("later values override earlier ones; empty values are values") {
    CommandLine cl("mem=1 mem=2 empty=");
    REQUIRE(cl.value("mem")->equals("2"));
    REQUIRE(cl.value("empty")->size == 0);
}

TEST_CASE("null and empty lines") {
    CommandLine a(nullptr), b("");
    REQUIRE_FALSE(a.has_flag("x"));
    REQUIRE_FALSE(b.value("x"));
    int words = 0;
    CommandLine("a b  c").for_each_word([&](aos::core::StringRef) {
        ++words;
        return true;
    });
    REQUIRE(words == 3);
}

TEST_CASE("numbers: decimal, hex, errors") {
    CommandLine cl(
        "quantum_ms=10 base=0x4000 bad=12a empty= huge=18446744073709551616 max=18446744073709551615");
    REQUIRE(*cl.number("quantum_ms") == 10);
    REQUIRE(*cl.number("base") == 0x4000);
    REQUIRE(cl.number("bad").error() == aos::Errc::invalid_argument);
    REQUIRE(cl.number("empty").error() == aos::Errc::invalid_argument);
    REQUIRE(cl.number("huge").error() == aos::Errc::overflow);
    REQUIRE(*cl.number("max") == 18446744073709551615ull);
    REQUIRE(cl.number("missing").error() == aos::Errc::not_found);
    REQUIRE(CommandLine::parse_u64(aos::core::StringRef::from_c_str("0x")).error() ==
            aos::Errc::invalid_argument);
}

TEST_CASE("the first word of a command line: leading blanks and tabs skipped, empty when there is none") {
    using aos::boot::CommandLine;
    REQUIRE(CommandLine("hello one two").first_word().equals("hello"));
    REQUIRE(CommandLine("  \thello\tone").first_word().equals("hello"));
    REQUIRE(CommandLine(" \t ").first_word().size == 0);
    REQUIRE(CommandLine("").first_word().size == 0);
    REQUIRE(CommandLine(nullptr).first_word().size == 0);
}

TEST_CASE("items of a separated list, empty ones included, and a stop") {
    std::vector<std::string> seen;
    aos::boot::for_each_item(aos::core::StringRef::from_c_str("init,,hello+a"), ',',
                             [&](aos::core::StringRef s) {
                                 seen.emplace_back(s.data, s.size);
                                 return true;
                             });
    REQUIRE(seen == std::vector<std::string>{"init", "", "hello+a"});
    seen.clear();
    aos::boot::for_each_item(aos::core::StringRef::from_c_str("a,b,c"), ',', [&](aos::core::StringRef s) {
        seen.emplace_back(s.data, s.size);
        return seen.size() < 2;
    });
    REQUIRE(seen == std::vector<std::string>{"a", "b"});
    seen.clear();
    aos::boot::for_each_item(aos::core::StringRef::from_c_str(""), ',', [&](aos::core::StringRef s) {
        seen.emplace_back(s.data, s.size);
        return true;
    });
    REQUIRE(seen == std::vector<std::string>{""});
}
