// The one include of Catch2 for aos's tests: Debian ships v2 (single header), other distributions v3.
#pragma once

#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_session.hpp>
#include <catch2/catch_test_macros.hpp>
#define AOS_CATCH_V3 1
#else
#include <catch2/catch.hpp>
#endif
