; Real mode -> 32-bit protected mode -> long mode, as an AP trampoline does.
; Loaded at 0x8000 and entered in real mode at 0800:0000.
bits 16
org 0x8000
	cli
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x7000
	mov ax, 0x1234
	push ax
	pop bx                      ; bx = 0x1234 (16-bit stack works)
	lgdt [gdtr]
	mov eax, cr0
	or eax, 1
	mov cr0, eax
	jmp dword 0x08:pm32
bits 32
pm32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, 0x7000
	mov eax, cr4
	or eax, 1 << 5              ; PAE
	mov cr4, eax
	mov eax, 0x10000            ; PML4 built by the test
	mov cr3, eax
	mov ecx, 0xc0000080
	rdmsr
	or eax, 1 << 8              ; LME
	wrmsr
	mov eax, cr0
	or eax, 1 << 31
	mov cr0, eax
	jmp 0x18:lm64
bits 64
lm64:
	mov rax, 0x1122334455667788
	mov rsp, 0x7000
	push rax
	pop rcx
	hlt
align 8
gdt:
	dq 0
	dq 0x00cf9b000000ffff       ; 0x08 code32
	dq 0x00cf93000000ffff       ; 0x10 data
	dq 0x00af9b000000ffff       ; 0x18 code64
gdtr:
	dw gdtr - gdt - 1
	dd gdt
