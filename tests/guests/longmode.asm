; Tiny guest 5: from 32-bit protected mode into 64-bit long mode (PAE paging,
; identity-mapped first 1 GiB with 2 MiB pages, EFER.LME, CR0.PG), then
; 64-bit work: a 64-bit register operation, RIP-relative addressing, an
; access above 4 GiB of linear address through a second mapping, and COM1
; output from 64-bit code.

%define GUEST_NAME "longmode"
%include "lib.inc"

%define PML4 0x70000
%define PDPT 0x71000
%define PD   0x72000
%define CODE64_SEL 0x28

main:
		mov [saved_esp], esp
		; page tables: PML4[0] -> PDPT; PDPT[0] -> PD (1 GiB at 0);
		; PDPT[4] -> the same PD (so linear 4 GiB aliases physical 0)
		mov edi, PML4
		mov ecx, 3 * 4096 / 4
		xor eax, eax
		cld
		rep stosd
		mov dword [PML4], PDPT | 3
		mov dword [PDPT], PD | 3
		mov dword [PDPT + 4 * 8], PD | 3
		xor ecx, ecx
.pde:
		mov eax, ecx
		shl eax, 21
		or eax, 0x83                    ; present, writable, 2 MiB page
		mov [PD + ecx * 8], eax
		inc ecx
		cmp ecx, 512
		jb .pde
		lgdt [gdtr64]
		mov eax, cr4
		or eax, 1 << 5                  ; PAE
		mov cr4, eax
		mov eax, PML4
		mov cr3, eax
		mov ecx, 0xc0000080             ; EFER
		rdmsr
		or eax, 1 << 8                  ; LME
		wrmsr
		mov eax, cr0
		or eax, 1 << 31                 ; PG
		mov cr0, eax
		jmp CODE64_SEL:long_entry

		bits 64
long_entry:
		mov rax, 0x123456789
		add rax, rax
		mov rbx, 0x2468acf12
		cmp rax, rbx
		sete byte [rel res_add]
		; linear 4 GiB + x is physical x through PDPT[4]
		mov rbx, 0x100000000 + res_alias
		mov byte [rbx], 1
		mov rsi, msg64
		POLL_PUTS
		; back to 32-bit compatibility code, then leave long mode
		push DATA32_SEL
		mov eax, [rel saved_esp]
		push rax
		pushfq
		push CODE32_SEL
		lea rax, [rel compat_back]
		push rax
		iretq
		bits 32
compat_back:
		LEAVE_LONG_MODE
		mov ax, DATA32_SEL
		mov ds, ax
		mov es, ax
		mov ss, ax
		PRINT "back in 32-bit protected mode"
		call newline
		cmp byte [res_add], 1
		CHECK e, "64-bit add of 0x123456789 to itself"
		cmp byte [res_alias], 1
		CHECK e, "a write through linear 4 GiB + x lands at physical x"
		ret

		align 8
gdt64:
		dq 0
		dq 0x00cf9a000000ffff   ; 0x08 code, 32-bit
		dq 0x00cf92000000ffff   ; 0x10 data
		dq 0
		dq 0
		dq 0x00af9a000000ffff   ; 0x28 code, 64-bit
gdt64_end:
gdtr64:		dw gdt64_end - gdt64 - 1
		dd gdt64
saved_esp:	dd 0
res_add:	db 0
res_alias:	db 0
msg64:		db "long mode: hello from 64-bit code", 10, 0
