; Integer ALU, flags, multiply/divide, shifts, bit operations. Results go to
; [rdi + 8*n]; the test compares them with values computed by hand.
bits 64
org 0x100000
	mov rdi, 0x200000
	mov rax, 5
	add rax, 7
	mov [rdi+0], rax            ; 12
	mov rbx, -1
	add rbx, 1
	setc cl
	setz ch
	movzx rcx, cx
	mov [rdi+8], rcx            ; 0x0101
	mov rdx, 0x8000000000000000
	sub rdx, 1
	seto al
	movzx rax, al
	mov [rdi+16], rax           ; 1
	mov r9, 3
	imul r9, r9, -7
	mov [rdi+24], r9            ; -21
	mov rax, 100
	xor edx, edx
	mov rcx, 7
	div rcx
	shl rdx, 32
	or rax, rdx
	mov [rdi+32], rax           ; (2 << 32) | 14
	mov rax, -100
	cqo
	mov rcx, 7
	idiv rcx
	mov [rdi+40], rax           ; -14
	mov [rdi+48], rdx           ; -2
	mov eax, 0x80000001
	ror eax, 1                  ; 0xc0000000, CF=1
	setc bl
	rcl eax, 2                  ; 0x00000001 | carry chain
	movzx rbx, bl
	shl rax, 8
	or rax, rbx
	mov [rdi+56], rax
	mov rax, 0xf0
	bsf rcx, rax
	bsr rdx, rax
	shl rdx, 8
	or rcx, rdx
	mov [rdi+64], rcx           ; 0x0704
	mov rax, 0x1234
	bts rax, 63
	setc cl
	btr rax, 2
	setc ch
	movzx rcx, cx
	mov [rdi+72], rax           ; 0x8000000000001230
	mov [rdi+80], rcx           ; 0x0100
	mov eax, -1                 ; 32-bit writes zero-extend
	mov [rdi+88], rax           ; 0xffffffff
	mov rax, -1
	mov ax, 0x1234              ; 16-bit writes merge
	mov [rdi+96], rax           ; 0xffffffffffff1234
	mov al, 0x7f
	inc al                      ; OF=1, CF unchanged
	seto cl
	movzx rcx, cl
	mov [rdi+104], rcx          ; 1
	mov rax, 0x0123456789abcdef
	bswap rax
	mov [rdi+112], rax          ; 0xefcdab8967452301
	mov rax, 0xffffffff
	mov rdx, 0xffffffff
	mul rdx
	mov [rdi+120], rax          ; 0xfffffffe00000001
	stc
	mov eax, 10
	sbb eax, 3                  ; 6
	mov [rdi+128], rax
	mov ecx, 3
	mov rax, 1
	shl rax, cl
	mov rbx, 0x8000000000000000
	sar rbx, 63
	mov [rdi+136], rax          ; 8
	mov [rdi+144], rbx          ; -1
	mov rax, 5
	cmp rax, 7
	mov rcx, 111
	mov rdx, 222
	cmovl rcx, rdx
	mov [rdi+152], rcx          ; 222
	lea rax, [rax*4 + rax + 3]
	mov [rdi+160], rax          ; 28
	mov rax, 0x11
	mov rbx, 0x22
	xchg rax, rbx
	shl rax, 8
	or rax, rbx
	mov [rdi+168], rax          ; 0x2211
	push 0x55
	pop rax
	mov [rdi+176], rax
	call sub1
	mov [rdi+184], rax          ; 0x77
	; Rotates keep ZF/SF/PF/AF of the operation before them (lazy flags).
	mov rax, 0x0f
	add rax, 1
	ror rax, 1
	pushfq
	pop rax
	and rax, 0x8d5
	mov [rdi+192], rax          ; AF from the ADD
	mov eax, 0x80000001
	xor eax, 0
	rol eax, 1
	seto [rdi+200]
	sets [rdi+201]
	setc [rdi+202]
	setz [rdi+203]
	setp [rdi+204]
	setl [rdi+205]
	setbe [rdi+206]
	pushfq
	pop rax
	and rax, 0x8d5
	mov [rdi+208], rax          ; SF CF OF
	mov rcx, 5
	sub rcx, 7
	ror rcx, 1
	rol rcx, 1
	seto [rdi+216]
	setc [rdi+217]
	sets [rdi+218]
	setg [rdi+219]
	mov edx, 0x10
	adc rdx, 0
	mov [rdi+220], dl
	hlt
sub1:
	mov rax, 0x77
	ret
