; Run on two CPUs at once over the same memory: LOCK INC and a CMPXCHG loop
; must not lose updates.
bits 64
org 0x100000
	mov rcx, 200000
.l:	lock inc qword [0x200000]
	mov rax, [0x200008]
.retry:	lea rdx, [rax + 1]
	lock cmpxchg [0x200008], rdx
	jnz .retry
	dec rcx
	jnz .l
	hlt
