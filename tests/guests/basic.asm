; Tiny guest 1: 32-bit protected mode. Checks the Multiboot hand-off (magic,
; memory info, command line), prints on COM1 (including through rep outsb),
; reads PCI configuration space through 0xcf8/0xcfc with 32-, 16- and 8-bit
; accesses and rep insb, and exits through isa-debug-exit.

%define GUEST_NAME "basic"
%include "lib.inc"

%define PCI_ADDR 0xcf8
%define PCI_DATA 0xcfc

main:
		push ebx
		cmp eax, MB_BOOT_MAGIC
		CHECK e, "multiboot magic in EAX"

		; memory info: flags bit 0, mem_upper (KiB above 1 MiB) at +8
		pop ebx
		push ebx
		test dword [ebx], 1
		jz .no_mem
		PRINT "memory: lower "
		mov eax, [ebx + 4]
		call putdec
		PRINT " KiB, upper "
		mov eax, [ebx + 8]
		call putdec
		PRINT " KiB"
		call newline
		cmp dword [ebx + 8], 1024
		CHECK ae, "multiboot memory info"
		jmp .cmdline
.no_mem:
		xor al, al
		mov esi, .mem_name
		call report

.cmdline:
		call cmdline
		test esi, esi
		jz .no_cmdline
		PRINT "cmdline: "
		call puts
		call newline
		mov al, 1
		mov esi, .cmd_name
		call report
		jmp .pci
.no_cmdline:
		xor al, al
		mov esi, .cmd_name
		call report

.pci:
		; host bridge, 00:00.0, register 0: vendor (low 16) and device (high 16)
		mov dx, PCI_ADDR
		mov eax, 0x80000000
		out dx, eax
		in eax, dx
		cmp eax, 0x80000000
		CHECK e, "pci address register reads back"
		mov dx, PCI_DATA
		in eax, dx
		mov [id], eax
		PRINT "pci 00:00.0 vendor "
		mov ecx, 4
		call puthex
		PRINT " device "
		shr eax, 16
		call puthex
		call newline
		mov eax, [id]
		cmp ax, 0xffff
		setne bl
		test ax, ax
		setne al
		and al, bl
		mov esi, .bridge_name
		call report

		; the same register through a 16-bit read of 0xcfe and an 8-bit one of 0xcfc
		mov dx, PCI_DATA + 2
		in ax, dx
		cmp ax, [id + 2]
		CHECK e, "pci 16-bit read at 0xcfe gives the device id"
		mov dx, PCI_DATA
		in al, dx
		cmp al, [id]
		CHECK e, "pci 8-bit read at 0xcfc gives the vendor id's low byte"

		; rep insb: four reads of 0xcfd, each the vendor id's high byte
		mov edi, buf
		mov ecx, 4
		mov dx, PCI_DATA + 1
		cld
		rep insb
		mov al, [id + 1]
		mov ah, al
		mov bx, ax
		shl eax, 16
		mov ax, bx
		cmp eax, [buf]
		CHECK e, "rep insb from 0xcfd repeats the vendor id's high byte"

		; 00:1f.0 is an empty slot: all ones
		mov dx, PCI_ADDR
		mov eax, 0x8000f800
		out dx, eax
		mov dx, PCI_DATA
		in eax, dx
		PRINT "pci 00:1f.0 reads "
		mov ecx, 8
		call puthex
		call newline
		cmp eax, 0xffffffff
		CHECK e, "pci empty slot 00:1f.0 reads all ones"

		; a line written with one string instruction
		mov esi, .outs_line
		mov ecx, .outs_end - .outs_line
		mov dx, COM1
		rep outsb
		pop ebx
		ret

.mem_name:	db "multiboot memory info", 0
.cmd_name:	db "multiboot command line", 0
.bridge_name:	db "pci host bridge present at 00:00.0", 0
.outs_line:	db "rep outsb: this line was written by one string instruction", 10
.outs_end:
		align 4
id:		dd 0
buf:		dd 0
