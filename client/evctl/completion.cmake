# Writes `EVCTL completion SHELL` to OUT: the shell completion scripts
# are made by evctl itself, from its own tables, when it is built.
# usage: cmake -DEVCTL=... -DSHELL=bash|zsh|fish -DOUT=... -P completion.cmake
execute_process(COMMAND ${EVCTL} completion ${SHELL}
                OUTPUT_FILE ${OUT}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT})
  message(FATAL_ERROR "${EVCTL} completion ${SHELL} failed: ${rc}")
endif()
