; LOCK-prefixed read-modify-write, XCHG, CMPXCHG, CMPXCHG16B, XADD.
bits 64
org 0x100000
	mov rdi, 0x200000
	mov qword [rdi], 10
	lock add qword [rdi], 5     ; 15
	mov rax, 3
	lock xadd [rdi], rax        ; [rdi] = 18, rax = 15
	mov [rdi+8], rax
	mov rax, 18
	mov rcx, 99
	lock cmpxchg [rdi], rcx     ; equal: [rdi] = 99, ZF=1
	setz bl
	mov rax, 5
	lock cmpxchg [rdi], rcx     ; not equal: rax = 99, ZF=0
	setz bh
	movzx rbx, bx
	mov [rdi+16], rbx           ; 0x0001
	mov [rdi+24], rax           ; 99
	mov rdx, 0x77
	xchg [rdi], rdx             ; [rdi] = 0x77, rdx = 99
	mov [rdi+32], rdx
	; cmpxchg16b at a 16-byte aligned address
	mov qword [rdi+64], 1
	mov qword [rdi+72], 2
	mov rax, 1
	mov rdx, 2
	mov rbx, 0xaaaa
	mov rcx, 0xbbbb
	lock cmpxchg16b [rdi+64]
	setz al
	movzx rax, al
	mov [rdi+40], rax           ; 1
	lock inc dword [rdi+80]
	lock inc dword [rdi+80]
	lock dec dword [rdi+80]     ; 1
	lock bts qword [rdi+88], 5
	lock not qword [rdi+96]
	hlt
