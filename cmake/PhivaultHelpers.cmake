# Helpers that give every component the same shape: one static library per folder under
# src/phivault, tests beside the code. tools/check_layering.py checks which component may
# include which; the DEPS lists here must agree with it.

set(PHIVAULT_WARNINGS
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
    -Wnon-virtual-dtor -Woverloaded-virtual -Wcast-qual -Wformat=2 -Wundef
    -Wimplicit-fallthrough -Wzero-as-null-pointer-constant -Wduplicated-cond -Wlogical-op)

function(phivault_apply_common target)
  target_compile_options(${target} PRIVATE ${PHIVAULT_WARNINGS})
  if(PHIVAULT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(PHIVAULT_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${PHIVAULT_SANITIZE}
                                             -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${PHIVAULT_SANITIZE})
  endif()
endfunction()

# phivault_library(NAME name SRCS a.cc b.cc DEPS phivault_base OpenSSL::Crypto)
function(phivault_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(phivault_${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(phivault_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(phivault_${ARG_NAME} PUBLIC ${ARG_DEPS})
  phivault_apply_common(phivault_${ARG_NAME})
endfunction()

# phivault_test(NAME name SRCS a_test.cc DEPS phivault_repo [LABELS unit])
function(phivault_test)
  if(NOT PHIVAULT_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock
                                            GTest::gtest_main)
  phivault_apply_common(${ARG_NAME})
  if("s3" IN_LIST ARG_LABELS)
    # Needs the S3 services of tests/s3/services.sh: the s3 fixture (tests/CMakeLists.txt).
    gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES
                         FIXTURES_REQUIRED s3
                         ENVIRONMENT PHIVAULT_TEST_S3_ENV=${CMAKE_BINARY_DIR}/s3-services/env)
  else()
    gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60)
  endif()
  # gtest_discover_tests (CMake 3.25) flattens list-valued PROPERTIES, so "unit;hsm" would reach
  # ctest as LABELS unit plus a stray property. Label the discovered tests once ctest knows their
  # names (the discovery script leaves them in <target>_TESTS).
  set(labels_script "${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}_labels.cmake")
  file(WRITE "${labels_script}"
       "if(DEFINED ${ARG_NAME}_TESTS)\n"
       "  set_tests_properties(\${${ARG_NAME}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\")\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_script}")
endfunction()
