; Self-modifying code: patch an immediate that is about to run.
bits 64
org 0x100000
	mov rax, patch + 1
	mov dword [rax], 0x99
patch:
	mov ecx, 0x11
	mov rax, 0x100000 + 0x1000  ; a page the loop below writes code into
	mov dword [rax], 0x0055bb   ; mov ebx, 0x55 (bb 55 00 00 00) ...
	mov byte [rax + 3], 0
	mov byte [rax + 4], 0
	mov byte [rax + 5], 0xf4    ; hlt
	jmp rax
