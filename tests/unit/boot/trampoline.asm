; Firmware stand-in for the QEMU cross-check (test_qemu_boot.sh): the last 4 KiB
; of a 128 KiB -bios image. From the reset vector it enables the PIIX4 ACPI PM
; I/O block at 0x600 (as a BIOS would), then loads exactly the entry state the
; berth Linux loader computed (GDT, CR3 and the registers in the parameter
; block at 0xf800, filled in by boot_snapshot) and jumps to the 64-bit entry.
bits 16
org 0xf000

start:
	cli
	cld
	; PIIX4 function 3 (bus 0, device 1): PMBA = 0x600, PMREGMISC.PMIOSE = 1
	mov dx, 0xcf8
	mov eax, 0x80000b40
	out dx, eax
	mov dx, 0xcfc
	mov eax, 0x601
	out dx, eax
	mov dx, 0xcf8
	mov eax, 0x80000b80
	out dx, eax
	mov dx, 0xcfc
	mov al, 1
	out dx, al

	o32 lgdt [cs:params]
	mov eax, [cs:params + 8]
	mov cr3, eax
	mov eax, cr4
	or eax, 0x20                    ; PAE
	mov cr4, eax
	mov ecx, 0xc0000080
	rdmsr
	or eax, 0x100                   ; EFER.LME
	wrmsr
	mov eax, cr0
	or eax, 0x80000011              ; PG | ET | PE
	mov cr0, eax
	jmp dword 0x10:(0xffff0000 + long_mode)

bits 64
	align 16
long_mode:
	mov eax, 0x18
	mov ds, eax
	mov es, eax
	mov ss, eax
	mov fs, eax
	mov gs, eax
	mov eax, 0xffff0000 + params
	mov rsi, [rax + 0x10]
	mov rsp, [rax + 0x18]
	mov rbp, rsp
	mov rbx, [rax + 0x20]
	xor eax, eax
	jmp rbx

	times 0x800 - ($ - $$) db 0xf4
params:                                 ; filled in by boot_snapshot
	dw 0                            ; +0x00 GDT limit
	dd 0                            ; +0x02 GDT base
	dw 0
	dd 0                            ; +0x08 CR3
	dd 0
	dq 0                            ; +0x10 RSI
	dq 0                            ; +0x18 RSP
	dq 0                            ; +0x20 RIP

	times 0xff0 - ($ - $$) db 0xf4
reset:                                  ; F000:FFF0
	jmp start
	times 0x1000 - ($ - $$) db 0xf4
