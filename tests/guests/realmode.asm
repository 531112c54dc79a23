; Tiny guest 2: drops from 32-bit protected mode to real mode and back.
; In real mode it prints on COM1 with port I/O, writes and reads memory
; through different segment:offset pairs of the same linear address, takes a
; software interrupt through the IVT, makes a far call into another code
; segment and uses 32-bit operands; back in protected mode it reports what
; real mode found.

%define GUEST_NAME "realmode"
%include "lib.inc"

%define SEG_TEST_SEG 0x1800
%define SEG_TEST_OFF 0x34

main:
		; the real-mode code runs at RM_BASE (segment 0x1000)
		mov esi, section.rm.start
		mov edi, RM_BASE
		mov ecx, rm_size
		cld
		rep movsb
		mov [saved_esp], esp
		call is_pvm
		sete [RM_BASE + rm_pvm]
		PRINT "entering real mode"
		call newline
		jmp CODE16_SEL:rm_entry

pm_back:
		mov ax, DATA32_SEL
		mov ds, ax
		mov es, ax
		mov fs, ax
		mov gs, ax
		mov ss, ax
		mov esp, [saved_esp]
		PRINT "back in protected mode"
		call newline
		mov eax, cr0
		test al, 1
		CHECK nz, "CR0.PE is set again after returning to protected mode"
		cmp byte [RM_BASE + res_pe], 1
		CHECK e, "CR0.PE reads clear in real mode"
		cmp byte [RM_BASE + res_seg], 1
		CHECK e, "real mode: 1800:0034 and 1803:0004 are the same byte"
		cmp word [SEG_TEST_SEG * 16 + SEG_TEST_OFF], 0xbeef
		CHECK e, "real mode: a write to 1800:0034 lands at linear 0x18034"
		call is_pvm
		je .skip_int
		cmp byte [RM_BASE + res_int], 1
		CHECK e, "real mode: int 0x80 runs its IVT handler and returns"
		cmp word [RM_BASE + res_sp], 0
		CHECK e, "real mode: int/iret leave SP unchanged"
		jmp .far
.skip_int:
		SKIP "real mode: int 0x80 through the IVT", "PVM's emulator cannot run it"
.far:
		cmp word [RM_BASE + res_cs], 0x0ff0
		CHECK e, "real mode: far call runs with CS=0ff0"
		cmp byte [RM_BASE + res_op32], 1
		CHECK e, "real mode: 32-bit operand-size arithmetic"
		ret

		align 4
saved_esp:	dd 0

; ---------------------------------------------------------------------------
; Real-mode code, copied to RM_BASE; offsets are from RM_BASE.
		section rm vstart=0 align=16
		bits 16
rm_entry:
		; 16-bit protected mode: load 64 KiB data segments, then leave PE
		mov ax, DATA16_SEL
		mov ds, ax
		mov es, ax
		mov fs, ax
		mov gs, ax
		mov ss, ax
		mov eax, cr0
		and eax, ~1
		mov cr0, eax
		jmp (RM_BASE >> 4):rm_real
rm_real:
		mov ax, cs
		mov ds, ax
		mov es, ax
		mov ss, ax
		mov sp, 0xfff0
		lidt [rm_idtr]
		mov si, rm_hello
		call rm_puts

		mov eax, cr0
		test al, 1
		setz [res_pe]

		; segment arithmetic: 1800:0034 == 1803:0004 == linear 0x18034
		push ds
		mov ax, SEG_TEST_SEG
		mov ds, ax
		mov word [SEG_TEST_OFF], 0xbeef
		mov ax, SEG_TEST_SEG + 3
		mov es, ax
		cmp word [es:SEG_TEST_OFF - 0x30], 0xbeef
		pop ds
		sete [res_seg]

		; software interrupt through the IVT (not on PVM, see lib.inc)
		cmp byte [rm_pvm], 0
		jne .no_int
		xor ax, ax
		mov es, ax
		mov word [es:0x80 * 4], rm_int80
		mov word [es:0x80 * 4 + 2], cs
		mov bx, sp
		int 0x80
		sub bx, sp
		mov [res_sp], bx
.no_int:

		; far call into segment 0x0ff0 (same code, offsets shifted by 0x100)
		call 0x0ff0:(rm_far + 0x100)

		; 32-bit operands in real mode
		mov eax, 0x12345678
		add eax, 0x11111111
		cmp eax, 0x23456789
		sete [res_op32]

		mov si, rm_bye
		call rm_puts

		; back to protected mode (GDTR still holds the guest's GDT)
		cli
		mov eax, cr0
		or al, 1
		mov cr0, eax
		jmp dword CODE32_SEL:pm_back

rm_int80:
		mov byte [res_int], 1
		iret

rm_far:
		mov ax, cs
		mov [res_cs], ax
		retf

; Write the NUL-terminated string at DS:SI.
rm_puts:
		push ax
		push dx
		POLL_PUTS
		pop dx
		pop ax
		ret

rm_idtr:	dw 0x3ff
		dd 0
rm_hello:	db "real mode: hello from 16-bit code", 10, 0
rm_bye:		db "real mode: returning to protected mode", 10, 0
rm_pvm:		db 0
res_pe:		db 0
res_seg:	db 0
res_int:	db 0
res_op32:	db 0
res_sp:		dw 0xffff
res_cs:		dw 0
rm_size		equ $ - $$
