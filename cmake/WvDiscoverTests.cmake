# Run at build time (POST_BUILD) by wv_add_test_program: asks a test program
# for its cases (`prog --list`: "name timeout_s" per line) and writes one
# add_test per case, so that `ctest -R lock_` runs exactly the lock cases.
# Inputs: EXE, OUT, LABEL, ENV (a ;-list of VAR=value, may be empty), EMU
# (a |-joined command that runs EXE, a cross build's emulator; may be
# empty), LOOP (may be empty: a loop backend, "epoll", every case also
# runs with, as NAME@LOOP with WEAVE_LOOP=LOOP).
string(REPLACE "|" ";" emu "${EMU}")
set(run "")
foreach(word IN LISTS emu)
  string(APPEND run "[=[${word}]=] ")
endforeach()
execute_process(COMMAND ${emu} "${EXE}" --list
  OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} --list failed: ${rc}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(content "")
# Appends to content the CTest test `test` running case `name` with env.
macro(wv_emit test env)
  string(APPEND content
    "add_test([=[${test}]=] ${run}[=[${EXE}]=] [=[${name}]=])\n"
    "set_tests_properties([=[${test}]=] PROPERTIES TIMEOUT ${ctest_timeout} LABELS ${LABEL}")
  if(NOT "${env}" STREQUAL "")
    string(APPEND content " ENVIRONMENT [=[${env}]=]")
  endif()
  string(APPEND content ")\n")
endmacro()
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  separate_arguments(parts UNIX_COMMAND "${line}")
  list(GET parts 0 name)
  list(GET parts 1 timeout)
  # The runner kills a case at its own timeout; CTest's is a backstop.
  math(EXPR ctest_timeout "${timeout} + 30")
  wv_emit("${name}" "${ENV}")
  if(LOOP)
    set(env "${ENV}")
    list(APPEND env "WEAVE_LOOP=${LOOP}")
    wv_emit("${name}@${LOOP}" "${env}")
  endif()
endforeach()
file(WRITE "${OUT}" "${content}")
