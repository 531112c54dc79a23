; Interrupt frames: an external interrupt (the test injects vector 0x40 while
; the code spins with IF=1), then INT 0x41 through an IST stack.
bits 64
org 0x100000
	sti
	mov rcx, 100000
.spin:
	dec rcx
	jnz .spin
	hlt
