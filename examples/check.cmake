# Runs one example and checks its output against expected/<name>.txt:
# groups of regular expressions separated by blank lines.  Each group must
# match a subsequence of the output lines, in order, so the interleaved
# output of several threads can be checked one thread at a time.  Lines
# starting with # are comments.  Inputs: EXE, EXPECT.
cmake_policy(SET CMP0007 NEW)

# CMake lists are ;-separated: protect the text's own semicolons.
function(split_lines text out)
  string(REPLACE ";" "@SEMI@" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(${out} "${lines}" PARENT_SCOPE)
endfunction()

execute_process(COMMAND "${EXE}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 170)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} exited with ${rc}\n${out}\n${err}")
endif()
split_lines("${out}" out_lines)
file(READ "${EXPECT}" expect_text)
split_lines("${expect_text}" expect_lines)
list(LENGTH out_lines n_out)
set(pos 0)
foreach(pattern IN LISTS expect_lines)
  string(REPLACE "@SEMI@" ";" pattern "${pattern}")
  if(pattern STREQUAL "")
    set(pos 0) # a blank line starts a new group
    continue()
  endif()
  if(pattern MATCHES "^#")
    continue()
  endif()
  set(found FALSE)
  while(pos LESS n_out)
    list(GET out_lines ${pos} line)
    string(REPLACE "@SEMI@" ";" line "${line}")
    math(EXPR pos "${pos} + 1")
    if(line MATCHES "${pattern}")
      set(found TRUE)
      break()
    endif()
  endwhile()
  if(NOT found)
    message(FATAL_ERROR "no line matching '${pattern}' (in order) in:\n${out}")
  endif()
endforeach()
message(STATUS "output as expected:\n${out}")
