# Host targets of the portable C core (components/ruv_temporal; every
# src/*.c — ruv_kernel.c, ruv_kernel_extras.c, ruv_blob.c, ... — by glob):
#   ruv_temporal_core    static library (linked by ruv_app, tests, benches)
#   ruv_temporal_shared  libruv_temporal.so, loaded by ruv_temporal.native (ctypes)
#   test_<name>          one C unit test per components/ruv_temporal/test/test_<name>.c
#                        (ctest: core_<name>)
#   ruv_core_freestanding  compile-only check: every core source with -ffreestanding
#   fuzz_blob            libFuzzer target of the blob view (-DRUV_FUZZ=ON, clang)
set(RUV_CORE_DIR "${RUV_FIRMWARE_DIR}/components/ruv_temporal")
file(GLOB RUV_CORE_SOURCES CONFIGURE_DEPENDS "${RUV_CORE_DIR}/src/*.c")
set(RUV_CORE_INCLUDES "${RUV_CORE_DIR}/include")

function(ruv_core_flags target)
  target_include_directories(${target} PUBLIC ${RUV_CORE_INCLUDES})
  target_include_directories(${target} PRIVATE "${RUV_CORE_DIR}/src")
  target_compile_options(${target} PRIVATE ${RUV_NUMERIC_FLAGS} ${RUV_WARNING_FLAGS} -Werror)
  if(RUV_LIBM)
    target_link_libraries(${target} PUBLIC ${RUV_LIBM})
  endif()
endfunction()

if(RUV_CORE_SOURCES)
  add_library(ruv_temporal_core STATIC ${RUV_CORE_SOURCES})
  ruv_core_flags(ruv_temporal_core)

  add_library(ruv_temporal_shared SHARED ${RUV_CORE_SOURCES})
  ruv_core_flags(ruv_temporal_shared)
  set_target_properties(ruv_temporal_shared PROPERTIES OUTPUT_NAME ruv_temporal)

  # Freestanding-friendliness: the core compiles with -ffreestanding (only
  # <math.h> beyond the freestanding headers, and <string.h>/<stdlib.h> for
  # memcpy/malloc which a freestanding port supplies). Object library: built,
  # never linked.
  add_library(ruv_core_freestanding OBJECT ${RUV_CORE_SOURCES})
  target_include_directories(ruv_core_freestanding PRIVATE ${RUV_CORE_INCLUDES} "${RUV_CORE_DIR}/src")
  target_compile_options(ruv_core_freestanding PRIVATE ${RUV_NUMERIC_FLAGS} ${RUV_WARNING_FLAGS}
    -Werror -ffreestanding)

  file(GLOB RUV_CORE_TESTS CONFIGURE_DEPENDS "${RUV_CORE_DIR}/test/test_*.c")
  foreach(test_src ${RUV_CORE_TESTS})
    get_filename_component(test_name "${test_src}" NAME_WE)
    add_executable(${test_name} "${test_src}")
    target_include_directories(${test_name} PRIVATE "${RUV_CORE_DIR}/src" "${RUV_CORE_DIR}/test")
    target_compile_options(${test_name} PRIVATE ${RUV_NUMERIC_FLAGS} -Wall -Wextra -Werror)
    target_link_libraries(${test_name} PRIVATE ruv_temporal_core)
    string(REPLACE "test_" "core_" ctest_name "${test_name}")
    add_test(NAME ${ctest_name} COMMAND ${test_name})
  endforeach()

  if(RUV_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
      message(FATAL_ERROR "RUV_FUZZ needs clang (-DCMAKE_C_COMPILER=clang)")
    endif()
    file(GLOB RUV_FUZZ_TARGETS CONFIGURE_DEPENDS "${RUV_CORE_DIR}/fuzz/fuzz_*.c")
    foreach(fuzz_src ${RUV_FUZZ_TARGETS})
      get_filename_component(fuzz_name "${fuzz_src}" NAME_WE)
      add_executable(${fuzz_name} "${fuzz_src}" ${RUV_CORE_SOURCES})
      target_include_directories(${fuzz_name} PRIVATE ${RUV_CORE_INCLUDES} "${RUV_CORE_DIR}/src")
      target_compile_options(${fuzz_name} PRIVATE ${RUV_NUMERIC_FLAGS} -g
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
      target_link_options(${fuzz_name} PRIVATE -fsanitize=fuzzer,address,undefined)
      if(RUV_LIBM)
        target_link_libraries(${fuzz_name} PRIVATE ${RUV_LIBM})
      endif()
    endforeach()
  endif()
else()
  message(STATUS "ruv_temporal: no core sources yet")
endif()
