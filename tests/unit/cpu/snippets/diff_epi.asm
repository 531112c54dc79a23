; Differential test epilogue: store RFLAGS, GPRs and XMM0-7 back to the state.
bits 64
	pushfq
	pop qword [r15 + 128]
	mov [r15 + 0], rax
	mov [r15 + 8], rcx
	mov [r15 + 16], rdx
	mov [r15 + 24], rbx
	mov [r15 + 40], rbp
	mov [r15 + 48], rsi
	mov [r15 + 56], rdi
	mov [r15 + 64], r8
	mov [r15 + 72], r9
	mov [r15 + 80], r10
	mov [r15 + 88], r11
	mov [r15 + 96], r12
	mov [r15 + 104], r13
	mov [r15 + 112], r14
%assign i 0
%rep 8
	movdqu [r15 + 144 + 16 * i], xmm %+ i
%assign i i + 1
%endrep
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbp
	pop rbx
	ret
