# cmake/sp_check_layout.cmake — the arrow between core and proto runs one way.
#
# Run at every build (cmake -P, from the sp_layout_check target): no file
# under src/core (nor src/event, src/master) includes a header of
# src/proto. The protocols build on the core (sp_parse.h, sp_proto.h, the
# connection and message objects) and hang their state on it through
# sp_proto.h; the core knows no protocol, as nginx's core knows no http.
#
#   cmake -DSP_SOURCE_DIR=<repo> -P cmake/sp_check_layout.cmake
if(NOT SP_SOURCE_DIR)
  message(FATAL_ERROR "sp_check_layout: SP_SOURCE_DIR is not set")
endif()

file(GLOB proto_headers RELATIVE ${SP_SOURCE_DIR}/src/proto
     ${SP_SOURCE_DIR}/src/proto/*.h)
file(GLOB_RECURSE lower_files
     ${SP_SOURCE_DIR}/src/core/*.[ch]
     ${SP_SOURCE_DIR}/src/event/*.[ch]
     ${SP_SOURCE_DIR}/src/master/*.[ch])

set(violations "")
foreach(file ${lower_files})
  file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]")
  foreach(line ${includes})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[\"<]([^\">]*)[\">].*$"
           "\\1" included "${line}")
    get_filename_component(included_name "${included}" NAME)
    list(FIND proto_headers "${included_name}" found)
    if(NOT found EQUAL -1)
      file(RELATIVE_PATH where ${SP_SOURCE_DIR} ${file})
      string(APPEND violations "\n  ${where}: #include \"${included}\"")
    endif()
  endforeach()
endforeach()

if(violations)
  message(FATAL_ERROR "the core must not include protocol headers "
          "(src/proto hangs its state on the core through sp_proto.h):"
          "${violations}")
endif()
