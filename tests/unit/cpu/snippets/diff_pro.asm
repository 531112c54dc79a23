; Differential test prologue: rdi = struct diff_state; load GPRs, XMM0-7 and
; RFLAGS from it. r15 keeps the state pointer (instructions under test must
; not use rsp or r15). The instruction under test follows directly.
bits 64
	push rbx
	push rbp
	push r12
	push r13
	push r14
	push r15
	mov r15, rdi
%assign i 0
%rep 8
	movdqu xmm %+ i, [r15 + 144 + 16 * i]
%assign i i + 1
%endrep
	mov rax, [r15 + 0]
	mov rcx, [r15 + 8]
	mov rdx, [r15 + 16]
	mov rbx, [r15 + 24]
	mov rbp, [r15 + 40]
	mov rsi, [r15 + 48]
	mov rdi, [r15 + 56]
	mov r8, [r15 + 64]
	mov r9, [r15 + 72]
	mov r10, [r15 + 80]
	mov r11, [r15 + 88]
	mov r12, [r15 + 96]
	mov r13, [r15 + 104]
	mov r14, [r15 + 112]
	push qword [r15 + 128]
	popfq
