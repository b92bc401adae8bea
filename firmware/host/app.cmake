# Host targets of the portable app logic (components/ruv_app):
#   ruv_app_proto   the stateless protocol helpers (tokenizer, hex, line reader, packet
#                   encoders); CRC-32 from the core
#   ruv_packets_shared  libruv_packets.so (packet encoders, for ctypes tests)
#   ruv_app         app logic (slots, temporal service, console protocol)
#   ruv_vdev        the virtual device (vdev/), console on stdio or a pty
#   test_app_proto  C unit test of the protocol parser (ctest: app_proto)
#   test_app_line   C unit test of the console line reader (ctest: app_line)
#   test_app_link   C unit test of the link trailer and reply cache (ctest: app_link)
#   test_app        slots/schedule/telemetry/protocol on an in-memory platform (ctest: app_logic)
#   test_fleet      MQTT logic + signed update path on an in-memory platform (ctest: app_fleet)
# ruv_app / ruv_vdev need the core target ruv_temporal_core (core.cmake).
set(RUV_APP_DIR "${RUV_FIRMWARE_DIR}/components/ruv_app")
set(RUV_APP_INCLUDES
  "${RUV_APP_DIR}/include"
  "${RUV_FIRMWARE_DIR}/components/ruv_temporal/include")

add_library(ruv_app_proto STATIC "${RUV_APP_DIR}/src/ruv_proto.c" "${RUV_APP_DIR}/src/ruv_line.c"
                                 "${RUV_APP_DIR}/src/ruv_link.c" "${RUV_APP_DIR}/src/ruv_packets.c")
target_include_directories(ruv_app_proto PUBLIC ${RUV_APP_INCLUDES})
target_compile_options(ruv_app_proto PRIVATE ${RUV_NUMERIC_FLAGS} ${RUV_WARNING_FLAGS} -Werror)
# ruv_crc32() lives in the core (components/ruv_temporal/src/ruv_crc32.c).
target_link_libraries(ruv_app_proto PUBLIC ruv_temporal_core)

add_executable(test_app_proto "${RUV_APP_DIR}/test/test_proto.c")
target_compile_options(test_app_proto PRIVATE ${RUV_NUMERIC_FLAGS} -Wall -Wextra -Werror)
target_link_libraries(test_app_proto PRIVATE ruv_app_proto)
add_test(NAME app_proto COMMAND test_app_proto)

# libruv_packets.so: the packet encoders for ruv_temporal.native's ctypes
# (tests/host/test_packets_c.py compares them with the construct codecs).
add_library(ruv_packets_shared SHARED "${RUV_APP_DIR}/src/ruv_packets.c")
target_include_directories(ruv_packets_shared PRIVATE ${RUV_APP_INCLUDES})
target_compile_options(ruv_packets_shared PRIVATE ${RUV_NUMERIC_FLAGS} ${RUV_WARNING_FLAGS} -Werror)
target_link_libraries(ruv_packets_shared PRIVATE ruv_temporal_core)
set_target_properties(ruv_packets_shared PROPERTIES OUTPUT_NAME ruv_packets)

add_executable(test_app_line "${RUV_APP_DIR}/test/test_line.c")
target_compile_options(test_app_line PRIVATE ${RUV_NUMERIC_FLAGS} -Wall -Wextra -Werror)
target_link_libraries(test_app_line PRIVATE ruv_app_proto)
add_test(NAME app_line COMMAND test_app_line)

add_executable(test_app_link "${RUV_APP_DIR}/test/test_link.c")
target_compile_options(test_app_link PRIVATE ${RUV_NUMERIC_FLAGS} -Wall -Wextra -Werror)
target_link_libraries(test_app_link PRIVATE ruv_app_proto)
add_test(NAME app_link COMMAND test_app_link)

if(TARGET ruv_temporal_core)
  # The app's sources but the protocol helpers (their own library above);
  # fuzz targets reuse RUV_APP_SOURCES. Keep in step with
  # components/ruv_app/CMakeLists.txt (the ESP-IDF list).
  set(RUV_APP_SOURCES)
  foreach(f ruv_app app_slots app_service app_telemetry app_console app_commands app_update app_fleet)
    list(APPEND RUV_APP_SOURCES "${RUV_APP_DIR}/src/${f}.c")
  endforeach()
  add_library(ruv_app STATIC ${RUV_APP_SOURCES})
  target_include_directories(ruv_app PUBLIC ${RUV_APP_INCLUDES})
  target_compile_options(ruv_app PRIVATE ${RUV_NUMERIC_FLAGS} ${RUV_WARNING_FLAGS} -Werror)
  # ruv_sign: the portable envelope verifier (sign.cmake); m: exp() of the
  # MQTT state's confidence
  target_link_libraries(ruv_app PUBLIC ruv_app_proto ruv_temporal_core ruv_sign m)

  add_executable(test_app "${RUV_APP_DIR}/test/test_app.c")
  target_compile_options(test_app PRIVATE ${RUV_NUMERIC_FLAGS} -Wall -Wextra -Werror)
  target_link_libraries(test_app PRIVATE ruv_app)
  add_test(NAME app_logic COMMAND test_app)

  add_executable(test_fleet "${RUV_APP_DIR}/test/test_fleet.c")
  target_compile_options(test_fleet PRIVATE ${RUV_NUMERIC_FLAGS} -Wall -Wextra -Werror)
  target_link_libraries(test_fleet PRIVATE ruv_app)
  add_test(NAME app_fleet COMMAND test_fleet)

  find_package(Threads REQUIRED)
  # MQTT (libmosquitto) and model signing (mbedtls) when both are installed
  # (tools/setup.sh); without them the vdev builds with --mqtt refused.
  find_path(MOSQUITTO_INCLUDE_DIR mosquitto.h)
  find_library(MOSQUITTO_LIBRARY mosquitto)
  if(MOSQUITTO_INCLUDE_DIR AND MOSQUITTO_LIBRARY AND TARGET ruv_sign_mbedtls)
    add_executable(ruv_vdev "${CMAKE_CURRENT_LIST_DIR}/vdev/vdev_main.c"
                            "${CMAKE_CURRENT_LIST_DIR}/vdev/vdev_mqtt.c")
    target_compile_definitions(ruv_vdev PRIVATE RUV_VDEV_MQTT=1)
    target_include_directories(ruv_vdev SYSTEM PRIVATE "${MOSQUITTO_INCLUDE_DIR}")
    target_link_libraries(ruv_vdev PRIVATE ruv_sign_mbedtls "${MOSQUITTO_LIBRARY}")
  else()
    message(STATUS "ruv_vdev: libmosquitto or mbedtls missing; built without MQTT")
    add_executable(ruv_vdev "${CMAKE_CURRENT_LIST_DIR}/vdev/vdev_main.c")
  endif()
  target_compile_options(ruv_vdev PRIVATE ${RUV_NUMERIC_FLAGS} -Wall -Wextra -Werror)
  target_link_libraries(ruv_vdev PRIVATE ruv_app Threads::Threads)
  if(TARGET ruv_csi)
    target_link_libraries(ruv_vdev PRIVATE ruv_csi)
  endif()
else()
  message(STATUS "ruv_app: core target ruv_temporal_core missing; ruv_app and ruv_vdev not built")
endif()
