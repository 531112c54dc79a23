; Kernel enters user mode with IRETQ, user code makes a SYSCALL, the kernel
; entry records RCX/R11/CS and returns with SYSRETQ; user code then runs HLT,
; which must fault with #GP at CPL 3.
bits 64
org 0x100000
	mov ecx, 0xc0000081         ; STAR: kernel CS 0x08, user base 0x10
	xor eax, eax
	mov edx, 0x00100008
	wrmsr
	mov ecx, 0xc0000082         ; LSTAR
	mov rax, entry
	mov rdx, rax
	shr rdx, 32
	wrmsr
	mov ecx, 0xc0000084         ; FMASK: clear IF and TF... and DF
	mov eax, 0x700
	xor edx, edx
	wrmsr
	push 0x1b                   ; SS = user data | 3
	push 0x3ff000               ; user RSP (in the user 4 KiB page range)
	push 0x202                  ; RFLAGS: IF
	push 0x23                   ; CS = user code64 | 3
	push user
	iretq
entry:
	mov r12, rcx
	mov r13, r11
	mov r14, cs
	mov rbx, ss
	o64 sysret
align 4096
user:
	mov rax, cs
	mov r10, rax
	syscall
	mov r9, 0x1234
	hlt
