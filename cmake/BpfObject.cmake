# bpf_object(<name> <src>): compile bpf/<name>.bpf.c for the BPF target and generate a libbpf
# skeleton with bpftool. Gives an INTERFACE target <name>_skel whose include directory holds
# <name>.skel.h. Shapes after libbpf-bootstrap's FindBpfObject, written for this tree.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
	set(BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
	set(BPF_ARCH arm64)
else()
	message(FATAL_ERROR "bpfdiag: no pinned vmlinux.h for ${CMAKE_SYSTEM_PROCESSOR}; see docs/DEVELOPMENT.md")
endif()

set(BPF_VMLINUX_DIR ${PROJECT_SOURCE_DIR}/bpf/include/${BPF_ARCH})
if(NOT EXISTS ${BPF_VMLINUX_DIR}/vmlinux.h)
	message(FATAL_ERROR "bpfdiag: ${BPF_VMLINUX_DIR}/vmlinux.h is missing; see docs/DEVELOPMENT.md")
endif()

set(BPF_CFLAGS -g -O2 -target bpf -D__TARGET_ARCH_${BPF_ARCH} -Wall -Wextra -Werror
	-Wno-unused-parameter -Wno-missing-field-initializers
	-I${BPF_VMLINUX_DIR} -I${PROJECT_SOURCE_DIR}/bpf/include -I${PROJECT_SOURCE_DIR}/bpf)

function(bpf_object name src)
	set(obj ${CMAKE_CURRENT_BINARY_DIR}/bpf/${name}.bpf.o)
	set(skel ${CMAKE_CURRENT_BINARY_DIR}/bpf/${name}.skel.h)
	file(GLOB bpf_headers ${PROJECT_SOURCE_DIR}/bpf/*.h ${PROJECT_SOURCE_DIR}/bpf/include/*.h)
	add_custom_command(OUTPUT ${obj}
		COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/bpf
		COMMAND ${BPF_CLANG} ${BPF_CFLAGS} -c ${src} -o ${obj}
		DEPENDS ${src} ${bpf_headers}
		COMMENT "BPF ${name}.bpf.o"
		VERBATIM)
	add_custom_command(OUTPUT ${skel}
		COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
		DEPENDS ${obj}
		COMMENT "skeleton ${name}.skel.h"
		VERBATIM)
	add_custom_target(${name}_skel_gen DEPENDS ${skel})
	add_library(${name}_skel INTERFACE)
	add_dependencies(${name}_skel ${name}_skel_gen)
	target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR}/bpf)
endfunction()
