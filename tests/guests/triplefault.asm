; Tiny guest 4: triple fault. With an empty IDT, ud2 raises #UD, which cannot
; be delivered (#GP), nor can the #DF that follows: the CPU shuts down, which
; a PC turns into a reset. berth-vmm --no-reboot (QEMU -no-reboot) then exits
; with status 0; reaching isa-debug-exit instead would exit with status 3.

%define GUEST_NAME "triplefault"
%include "lib.inc"

main:
		PRINT "loading an empty IDT and executing ud2"
		call newline
		lidt [empty_idtr]
		ud2
		PRINT "still running after ud2 with an empty IDT"
		call newline
		mov al, 1
		jmp debug_exit

empty_idtr:	dw 0
		dd 0
