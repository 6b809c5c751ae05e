# Helpers: one per target kind, explicit file lists (style.md "Build").
include_guard(GLOBAL)

# kobs_library(NAME x HDRS ... SRCS ... DEPS PUBLIC ... PRIVATE ...)
# Creates the static library kobs_x with alias kobs::x; includes are rooted at src/.
function(kobs_library)
  cmake_parse_arguments(ARG "" "NAME" "HDRS;SRCS;DEPS" ${ARGN})
  set(target kobs_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SRCS})
  add_library(kobs::${ARG_NAME} ALIAS ${target})
  target_sources(${target} PUBLIC FILE_SET HEADERS BASE_DIRS ${KOBS_SOURCE_ROOT} FILES ${ARG_HDRS})
  set_target_properties(${target} PROPERTIES VERIFY_INTERFACE_HEADER_SETS ON)
  target_include_directories(${target} PUBLIC ${KOBS_SOURCE_ROOT})
  target_link_libraries(${target} ${ARG_DEPS})
endfunction()

# kobs_test(NAME x SRCS ... DEPS ... [LABELS unit|integration])
function(kobs_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()

# kobs_bench(NAME x SRCS ... DEPS ...): built by the `bench` target only, never by `all`.
function(kobs_bench)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} EXCLUDE_FROM_ALL ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  add_dependencies(bench ${ARG_NAME})
endfunction()
