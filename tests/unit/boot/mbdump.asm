; A tiny Multiboot v1 kernel (a.out kludge, flat binary) for the QEMU
; cross-check of the Multiboot loader (test_qemu_multiboot.sh): it prints the
; boot-loader-independent parts of the Multiboot information on COM1, one
; "mb:" line each, then exits through isa-debug-exit at port 0xf4.
bits 32
org 0x100000

header:
	dd 0x1badb002
	dd 0x00010003                   ; page-align modules, memory info, a.out kludge
	dd -(0x1badb002 + 0x00010003)
	dd header                       ; header_addr
	dd header                       ; load_addr
	dd load_end                     ; load_end_addr
	dd bss_end                      ; bss_end_addr
	dd start                        ; entry_addr

start:
	mov esp, stack_top
	cmp eax, 0x2badb002
	jne fail
	mov edi, ebx
	mov al, 10                      ; end whatever the firmware printed last
	call putc
	mov esi, s_flags
	mov eax, [edi]
	call field
	mov esi, s_lower
	mov eax, [edi + 4]
	call field
	mov esi, s_bootdev
	mov eax, [edi + 12]
	call field
	mov esi, s_cmdline
	call puts
	mov esi, [edi + 16]
	call putq
	mov esi, s_mods
	mov eax, [edi + 20]
	call field
	mov ecx, [edi + 20]
	mov ebx, [edi + 24]
.mod:
	test ecx, ecx
	jz .done
	mov esi, s_modsize
	mov eax, [ebx + 4]
	sub eax, [ebx]
	call field
	mov esi, s_modalign
	mov eax, [ebx]
	and eax, 0xfff
	call field
	mov esi, s_modcmd
	call puts
	mov esi, [ebx + 8]
	call putq
	add ebx, 16
	dec ecx
	jmp .mod
.done:
	mov al, 0                       ; exit status (0 << 1) | 1
	out 0xf4, al
fail:
	mov al, 1
	out 0xf4, al
	cli
	hlt

; field: print the string at esi, then eax in hex and a newline
field:
	push eax
	call puts
	pop eax
	push ecx
	mov ecx, 8
.digit:
	rol eax, 4
	push eax
	and al, 0xf
	add al, '0'
	cmp al, '9'
	jbe .out
	add al, 'a' - '0' - 10
.out:
	call putc
	pop eax
	loop .digit
	pop ecx
	mov al, 10
	jmp putc

; putq: print the string at esi in brackets, then a newline
putq:
	mov al, '['
	call putc
	call puts
	mov al, ']'
	call putc
	mov al, 10
	jmp putc

puts:
	lodsb
	test al, al
	jz .end
	call putc
	jmp puts
.end:
	ret

putc:
	push edx
	push eax
	mov dx, 0x3fd                   ; wait for THR empty
.wait:
	in al, dx
	test al, 0x20
	jz .wait
	pop eax
	mov dx, 0x3f8
	out dx, al
	pop edx
	ret

s_flags:    db "mb: flags ", 0
s_lower:    db "mb: mem_lower ", 0
s_bootdev:  db "mb: boot_device ", 0
s_cmdline:  db "mb: cmdline ", 0
s_mods:     db "mb: mods_count ", 0
s_modsize:  db "mb: mod size ", 0
s_modalign: db "mb: mod start & 0xfff ", 0
s_modcmd:   db "mb: mod cmdline ", 0

	align 4
load_end:
stack_top equ load_end + 0x1000
bss_end equ stack_top
