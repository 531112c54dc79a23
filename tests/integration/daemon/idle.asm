; Tiny guest for berthd's tests: prints "berth-idle up" on COM1, then halts
; with interrupts disabled, costing the host nothing until it is stopped.
; A Multiboot v1 kernel with the a.out kludge (loads as a flat binary).

bits 32
%define LOAD_ADDR 0x100000
%define MB_MAGIC  0x1BADB002
%define MB_FLAGS  0x00010000           ; a.out kludge only
%define COM1      0x3f8
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
		cli
		mov esi, message
.next:
		lodsb
		test al, al
		jz .hang
		mov dx, COM1
		out dx, al
		jmp .next
.hang:
		hlt
		jmp .hang
message:
		db "berth-idle up", 10, 0
