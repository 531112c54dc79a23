; String instructions with REP prefixes.
bits 64
org 0x100000
	cld
	mov rdi, 0x200000
	mov rax, 0x0101010101010101
	mov rcx, 4
	rep stosq                   ; 32 bytes of 0x01 at 0x200000
	mov rsi, 0x200000
	mov rdi, 0x200100
	mov rcx, 5000               ; crosses pages
	rep movsb
	mov byte [0x200300], 0x5a
	mov rdi, 0x200200
	mov al, 0x5a
	mov rcx, 0x400
	repne scasb                 ; finds it at 0x200300
	mov [0x210000], rdi         ; 0x200301
	mov [0x210008], rcx         ; 0x400 - 0x101
	; overlapping forward copy replicates a byte
	mov byte [0x220000], 0x42
	mov rsi, 0x220000
	mov rdi, 0x220001
	mov rcx, 15
	rep movsb
	mov rax, [0x220008]
	mov [0x210010], rax         ; 0x4242424242424242
	; backwards copy
	std
	mov rsi, 0x200007
	mov rdi, 0x230007
	mov rcx, 8
	rep movsb
	cld
	mov rax, [0x230000]
	mov [0x210018], rax
	hlt
