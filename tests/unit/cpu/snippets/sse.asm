; SSE2 integer and double-precision basics.
bits 64
org 0x100000
	mov rdi, 0x200000
	pxor xmm0, xmm0
	mov rax, 0x0102030405060708
	movq xmm1, rax
	paddb xmm0, xmm1
	paddb xmm0, xmm1            ; each byte doubled
	movq rax, xmm0
	mov [rdi], rax              ; 0x020406080a0c0e10
	mov eax, 7
	cvtsi2sd xmm2, eax
	mov rax, 0x3ff8000000000000 ; 1.5
	movq xmm3, rax
	mulsd xmm2, xmm3            ; 10.5
	addsd xmm2, xmm3            ; 12.0
	cvttsd2si rax, xmm2
	mov [rdi+8], rax            ; 12
	ucomisd xmm2, xmm3
	seta al
	movzx rax, al
	mov [rdi+16], rax           ; 1
	pcmpeqb xmm4, xmm4          ; all ones
	pmovmskb eax, xmm4
	mov [rdi+24], rax           ; 0xffff
	movdqa [rdi+32], xmm4
	pshufd xmm5, xmm1, 0x1b
	movdqu [rdi+48], xmm5
	psrldq xmm4, 15
	movq rax, xmm4
	mov [rdi+64], rax           ; 0xff
	fninit
	fnstcw [rdi+72]             ; 0x037f
	mov dword [rdi+80], 12345
	fild dword [rdi+80]
	fistp qword [rdi+88]        ; 12345
	fxsave [rdi+128]
	hlt
