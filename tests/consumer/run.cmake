# Installs weave into a scratch prefix, then builds and runs a consumer
# with find_package(weave) (shared and static) and with pkg-config.
# Inputs: BUILD_DIR, SOURCE_DIR, WORK_DIR, C_COMPILER.
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

function(expect_ok what)
  if(NOT last_output MATCHES "^consumer [0-9]+\\.[0-9]+\\.[0-9]+ done 1000")
    message(FATAL_ERROR "${what}: unexpected output: ${last_output}")
  endif()
  message(STATUS "${what}: ${last_output}")
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/weave.h include/weave/core.h include/weave/sync.h
          include/weave/queue.h)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()

run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build"
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER})
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer_shared")
expect_ok("find_package, shared")
run("${WORK_DIR}/build/consumer_static")
expect_ok("find_package, static")

find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  file(GLOB pcdir "${prefix}/lib*/pkgconfig" "${prefix}/lib/*/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "${pcdir}")
  run(${PKG_CONFIG} --cflags --libs weave)
  string(STRIP "${last_output}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${C_COMPILER} "${SOURCE_DIR}/main.c" -o "${WORK_DIR}/consumer_pc"
      ${flags} -pthread)
  string(REGEX REPLACE "/pkgconfig$" "" libdir "${pcdir}")
  set(ENV{LD_LIBRARY_PATH} "${libdir}")
  run("${WORK_DIR}/consumer_pc")
  expect_ok("pkg-config")
else()
  message(STATUS "pkg-config not found: that half is skipped")
endif()
