# Host targets of the csi-stats v1 feature front-end (components/ruv_csi):
#   ruv_csi            static library
#   ruv_csi_shared     libruv_csi.so, loaded by ruv_temporal.features (ctypes)
#                      for the C-vs-NumPy parity test
#   test_csi_features  C unit test (ctest: csi_features)
set(RUV_CSI_DIR "${RUV_FIRMWARE_DIR}/components/ruv_csi")
set(RUV_CSI_SOURCES "${RUV_CSI_DIR}/src/ruv_csi_features.c")
set(RUV_CSI_INCLUDES
  "${RUV_CSI_DIR}/include"
  "${RUV_FIRMWARE_DIR}/components/ruv_temporal/include")

function(ruv_csi_flags target)
  target_include_directories(${target} PUBLIC ${RUV_CSI_INCLUDES})
  target_compile_options(${target} PRIVATE ${RUV_NUMERIC_FLAGS} ${RUV_WARNING_FLAGS} -Werror)
  if(RUV_LIBM)
    target_link_libraries(${target} PUBLIC ${RUV_LIBM})
  endif()
endfunction()

add_library(ruv_csi STATIC ${RUV_CSI_SOURCES})
ruv_csi_flags(ruv_csi)

add_library(ruv_csi_shared SHARED ${RUV_CSI_SOURCES})
ruv_csi_flags(ruv_csi_shared)
set_target_properties(ruv_csi_shared PROPERTIES OUTPUT_NAME ruv_csi)

add_executable(test_csi_features "${RUV_CSI_DIR}/test/test_csi_features.c")
target_compile_options(test_csi_features PRIVATE ${RUV_NUMERIC_FLAGS} ${RUV_WARNING_FLAGS} -Werror)
target_link_libraries(test_csi_features PRIVATE ruv_csi)
add_test(NAME csi_features COMMAND test_csi_features)
