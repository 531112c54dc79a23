; Tiny guest for bench/startup: its very first instruction writes 0 to
; isa-debug-exit, so exec-to-exit time is start-up time (status 1). It is a
; Multiboot v1 kernel with the a.out kludge and nothing else.

bits 32
%define LOAD_ADDR 0x100000
%define MB_MAGIC  0x1BADB002
%define MB_FLAGS  0x00010000           ; a.out kludge only
		org LOAD_ADDR
mb_header:
		dd MB_MAGIC
		dd MB_FLAGS
		dd -(MB_MAGIC + MB_FLAGS)
		dd mb_header            ; header_addr
		dd LOAD_ADDR            ; load_addr
		dd 0                    ; load_end_addr: the whole file
		dd 0                    ; bss_end_addr
		dd entry                ; entry_addr
entry:
		xor eax, eax
		out 0xf4, al
.hang:
		cli
		hlt
		jmp .hang
