# libFuzzer target of the console protocol (-DRUV_FUZZ=ON, clang):
#   fuzz_console   components/ruv_app/fuzz/fuzz_console.c — console sessions
#                  through ruv_app's line reader on an in-memory platform
#                  (uploads included); seed corpus tests/fuzz/corpus/console
#                  (tools/make_fuzz_corpus.py --console)
# The blob fuzzer (fuzz_blob) is built by core.cmake. The whole app, its
# protocol helpers and the core are compiled into the target with the
# fuzzer and sanitizer instrumentation.
if(NOT RUV_FUZZ OR NOT RUV_APP_SOURCES OR NOT TARGET ruv_app_proto)
  return()
endif()
# the app's sources (app.cmake) and those of the libraries it links:
# protocol helpers (ruv_app_proto) and the envelope verifier (ruv_sign)
set(RUV_FUZZ_APP_SOURCES ${RUV_APP_SOURCES})
foreach(lib ruv_app_proto ruv_sign)
  if(TARGET ${lib})
    get_target_property(_srcs ${lib} SOURCES)
    list(APPEND RUV_FUZZ_APP_SOURCES ${_srcs})
  endif()
endforeach()
add_executable(fuzz_console "${RUV_APP_DIR}/fuzz/fuzz_console.c" ${RUV_FUZZ_APP_SOURCES}
  ${RUV_CORE_SOURCES})
target_include_directories(fuzz_console PRIVATE ${RUV_APP_INCLUDES} "${RUV_APP_DIR}/src"
  ${RUV_CORE_INCLUDES} "${RUV_CORE_DIR}/src")
target_compile_options(fuzz_console PRIVATE ${RUV_NUMERIC_FLAGS} -g
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
target_link_options(fuzz_console PRIVATE -fsanitize=fuzzer,address,undefined)
if(RUV_LIBM)
  target_link_libraries(fuzz_console PRIVATE ${RUV_LIBM})
endif()
