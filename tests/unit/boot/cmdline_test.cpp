// aos::boot::CommandLine: flags, key=value words, overrides, whitespace.
#include "catch.hpp"

#include <aos/boot/cmdline.hpp>

#include <string>

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
