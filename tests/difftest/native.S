/*
 * Host side of the differential test: load every user register from
 * dt_native_in, jump to the case's code, and (when the code jumps to
 * dt_native_exit, or a signal handler sends a faulting run there) save every
 * register to dt_native_out and return to the C caller.
 */
#include "difftest.h"

	.intel_syntax noprefix

	.bss
	.balign 64
	.globl dt_native_in, dt_native_out
dt_native_in:	.skip ST_SIZE
dt_native_out:	.skip ST_SIZE
host_rsp:	.skip 8
host_mxcsr:	.skip 4
	.balign 8
jump_target:	.skip 8

	.text
/* void dt_native_enter(void): run the code at dt_native_in.rip. */
	.globl dt_native_enter
	.type dt_native_enter, @function
dt_native_enter:
	push rbx
	push rbp
	push r12
	push r13
	push r14
	push r15
	sub rsp, 8
	mov [rip + host_rsp], rsp
	stmxcsr [rip + host_mxcsr]
	/* x87: every physical register +0.0 and empty, as in the emulator */
	fninit
	.rept 8
	fldz
	.endr
	fninit
	/* DS and ES hold the null selector, as when the process started */
	xor eax, eax
	mov ds, eax
	mov es, eax
	lea r15, [rip + dt_native_in]
	ldmxcsr [r15 + ST_MXCSR]
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	movdqu xmm\n, [r15 + ST_XMM + 16 * \n]
	.endr
	mov rax, [r15 + ST_RIP]
	mov [rip + jump_target], rax
	/* RSP, then RFLAGS through the test stack */
	mov rax, [r15 + 8 * 4]
	sub rax, 8
	mov rsp, rax
	mov rax, [r15 + ST_RFLAGS]
	mov [rsp], rax
	popfq
	mov rax, [r15 + 8 * 0]
	mov rcx, [r15 + 8 * 1]
	mov rdx, [r15 + 8 * 2]
	mov rbx, [r15 + 8 * 3]
	mov rbp, [r15 + 8 * 5]
	mov rsi, [r15 + 8 * 6]
	mov rdi, [r15 + 8 * 7]
	mov r8, [r15 + 8 * 8]
	mov r9, [r15 + 8 * 9]
	mov r10, [r15 + 8 * 10]
	mov r11, [r15 + 8 * 11]
	mov r12, [r15 + 8 * 12]
	mov r13, [r15 + 8 * 13]
	mov r14, [r15 + 8 * 14]
	mov r15, [r15 + 8 * 15]
	jmp [rip + jump_target]
	.size dt_native_enter, . - dt_native_enter

/* The end of every case's code (and of a faulting run, via the signal handler). */
	.globl dt_native_exit
	.type dt_native_exit, @function
dt_native_exit:
	mov [rip + dt_native_out], rax
	lea rax, [rip + dt_native_out]
	mov [rax + 8 * 1], rcx
	mov [rax + 8 * 2], rdx
	mov [rax + 8 * 3], rbx
	mov [rax + 8 * 4], rsp
	mov [rax + 8 * 5], rbp
	mov [rax + 8 * 6], rsi
	mov [rax + 8 * 7], rdi
	mov [rax + 8 * 8], r8
	mov [rax + 8 * 9], r9
	mov [rax + 8 * 10], r10
	mov [rax + 8 * 11], r11
	mov [rax + 8 * 12], r12
	mov [rax + 8 * 13], r13
	mov [rax + 8 * 14], r14
	mov [rax + 8 * 15], r15
	pushfq
	pop qword ptr [rax + ST_RFLAGS]
	stmxcsr [rax + ST_MXCSR]
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	movdqu [rax + ST_XMM + 16 * \n], xmm\n
	.endr
	ldmxcsr [rip + host_mxcsr]
	fninit
	xor eax, eax
	mov ds, eax
	mov es, eax
	mov rsp, [rip + host_rsp]
	/* the case may have set NT, ID, DF...: back to the C ABI's flags */
	push 0x202
	popfq
	add rsp, 8
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbp
	pop rbx
	ret
	.size dt_native_exit, . - dt_native_exit

	.section .note.GNU-stack, "", @progbits
