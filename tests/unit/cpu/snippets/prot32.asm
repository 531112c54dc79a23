; Real-mode INT through the IVT, then 32-bit protected mode with 2-level
; paging (a 4 MiB PSE page and a 4 KiB page table) and an IDT of 32-bit
; interrupt gates: a write to a not-present page raises #PF, whose handler
; stores the error code (ebx), CR2 (ecx) and the faulting EIP (esi).
bits 16
org 0x8000
	cli
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x7000
	mov word [0x20 * 4], rm_handler
	mov word [0x20 * 4 + 2], 0
	int 0x20                    ; sets dx = 0x55
	lgdt [gdtr]
	mov eax, cr0
	or eax, 1
	mov cr0, eax
	jmp dword 0x08:pm32
rm_handler:
	mov dx, 0x55
	iret
bits 32
pm32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, 0x7000
	lidt [idtr]
	; page directory at 0x20000: 4 MiB page at 0, page table at 0x21000 for 4-8 MiB
	mov dword [0x20000], 0x00000083
	mov dword [0x20004], 0x00021003
	mov dword [0x21000], 0x00400003  ; 0x400000 present
	mov dword [0x21004], 0            ; 0x401000 not present
	mov eax, cr4
	or eax, 1 << 4              ; PSE
	mov cr4, eax
	mov eax, 0x20000
	mov cr3, eax
	mov eax, cr0
	or eax, 1 << 31
	mov cr0, eax
	mov dword [0x400010], 0x1234  ; mapped: works
	mov edi, [0x400010]
fault:
	mov dword [0x401000], 1     ; not present: #PF
	hlt
pf_handler:
	pop ebx                     ; error code
	mov ecx, cr2
	pop esi                     ; EIP of the faulting instruction
	hlt
align 8
gdt:
	dq 0
	dq 0x00cf9b000000ffff       ; 0x08 code32
	dq 0x00cf93000000ffff       ; 0x10 data
gdtr:
	dw gdtr - gdt - 1
	dd gdt
idt:
	times 14 dq 0
	dw pf_handler, 0x08, 0x8e00, 0  ; vector 14: 32-bit interrupt gate
idtr:
	dw idtr - idt - 1
	dd idt
	times 0x1f0 - ($ - $$) db 0
fault_addr:                     ; at 0x81f0, read by the test
	dd fault
