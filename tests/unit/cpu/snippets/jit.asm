; A hot loop of code the block translator handles, so that it runs translated:
; flags that stay live across memory accesses (a load, a store), PUSH, CALL,
; RET imm16. r9 and r10 count OF and SF seen after the accesses, r12 sums
; what the function returns, and RSP must come back where it started.
bits 64
org 0x100000
	mov r8, 20
	xor r9, r9
	xor r10, r10
	xor r12, r12
	mov rdi, 0x300000
again:
	mov rax, 0x7fffffffffffffff
	add rax, 1		; OF = 1, SF = 1
	mov rcx, [rdi]		; a load and a store between the flags' write and read
	mov [rdi + 8], rcx
	seto bl
	sets dl
	movzx ebx, bl
	movzx edx, dl
	add r9, rbx
	add r10, rdx
	push r8
	call twice		; rax = 2 * r8, the argument popped by RET 8
	add r12, rax
	dec r8
	jnz again
	hlt

twice:
	mov rax, [rsp + 8]
	add rax, rax
	ret 8
