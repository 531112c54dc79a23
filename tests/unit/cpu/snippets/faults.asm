; Selected by rsi (set by the test): 0 = read unmapped (#PF), 1 = write to a
; read-only 4 KiB page (#PF), 2 = UD2, 3 = divide by zero, 4 = non-canonical
; access (#GP), 5 = execute from a no-execute page (#PF), 6 = int3 (trap).
bits 64
org 0x100000
	cmp rsi, 0
	je .unmapped
	cmp rsi, 1
	je .readonly
	cmp rsi, 2
	je .ud
	cmp rsi, 3
	je .div0
	cmp rsi, 4
	je .noncanon
	cmp rsi, 5
	je .nx
	int3
	hlt
.unmapped:
	mov rax, [0x40000008]
	hlt
.readonly:
	mov qword [0x201000], 1     ; the test maps this 4 KiB page read-only
	hlt
.ud:
	ud2
	hlt
.div0:
	xor ecx, ecx
	div ecx
	hlt
.noncanon:
	mov rax, 0x0000800000000000
	mov rbx, [rax]
	hlt
.nx:
	mov rax, 0x202000           ; the test marks this page NX and puts code there
	jmp rax
