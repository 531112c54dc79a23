; Paging features, three entry points (the test sets RIP):
;   CODE + 0x000: fill TLB entries for a global (0x203000) and a normal page (0x205000)
;   CODE + 0x100: after the test remapped both PTEs: reload CR3, read both again,
;                 INVLPG the global page and read it once more
;   CODE + 0x200: read through a 1 GiB page and write a read-only page (CR0.WP=0)
bits 64
org 0x100000
	mov rax, [0x203000]
	mov r8, [0x205000]
	hlt
	times 0x100 - ($ - $$) db 0x90
	mov rbx, cr3
	mov cr3, rbx
	mov rcx, [0x203000]         ; global: the old translation survives MOV CR3
	mov r9, [0x205000]          ; not global: the new translation
	invlpg [0x203000]
	mov rdx, [0x203000]         ; INVLPG drops the global entry too
	hlt
	times 0x200 - ($ - $$) db 0x90
	mov rax, [0x40200008]       ; 1 GiB page at 1 GiB -> physical 0
	mov qword [0x201000], 0x77  ; read-only page, but CR0.WP = 0 at CPL 0
	hlt
