; Tiny guest 9: privileged behaviour in 32-bit protected mode with paging.
; It builds 2-level page tables (4 KiB pages with special permissions at
; 2 MiB), a GDT with ring-3 segments and a TSS, and a 32-bit IDT, then checks:
;  - exception frames: #DE, #UD, #GP with a selector error code, #NP and #SS
;    for a not-present segment, #GP for a DPL 0 data segment loaded at CPL 3;
;  - page faults: error code bits and CR2 for not-present, write-protect (CR0.WP),
;    user-to-supervisor and user write to a not-present page;
;  - IRET to CPL 3, the stack switch to SS0:ESP0 of the TSS (a frame with the
;    user SS:ESP), INT 0x80 through a DPL 3 gate, #GP(IDT) through a DPL 0 gate,
;    CLI and IN at CPL 3 with IOPL 0;
;  - SYSENTER/SYSEXIT (the SYSENTER_CS/ESP/EIP MSRs);
;  - a double fault when the #PF gate is not present.
; A handler records the event, then resumes at the point the check chose with
; the kernel stack it saved (no IRET back to a faulting instruction).

%define GUEST_NAME "pmexcept"
%include "lib.inc"

%define PGDIR       0x60000
%define PT0         0x61000            ; 0-4 MiB in 4 KiB pages
%define ESP0_TOP    0x69000
%define SYSENTER_SP 0x6a000
%define IDT32       0x6c000
%define PG_ABSENT   0x200000
%define PG_RO       0x201000
%define PG_SUPER    0x202000
%define PG_USTACK   0x204000
%define USTACK_TOP  0x205000

%define KCODE       0x08
%define KDATA       0x10
%define UCODE       0x1b               ; SYSEXIT: SYSENTER_CS + 16, RPL 3
%define UDATA       0x23               ; SYSEXIT: SYSENTER_CS + 24, RPL 3
%define TSS_SEL     0x28
%define NP_SEL      0x30               ; a data segment that is not present
%define VEC_USER    0x80               ; DPL 3 gate
%define VEC_DPL0    0x81
%define BAD_SEL     0x1230

; EXPECT label: the next exception resumes at label with this ESP.
%macro EXPECT 1
		mov dword [resume], %1
		mov [resume_esp], esp
		mov dword [last_vector], -1
%endmacro

main:
		call is_pvm
		jne .run
		mov eax, cr0
		test eax, 1
		CHECK nz, "32-bit: the loader starts the guest in protected mode"
		SKIP "protected-mode privileged checks", "PVM's instruction emulator cannot run IRET and INT n"
		ret
.run:
		mov eax, cr0
		test eax, 1
		CHECK nz, "32-bit: the loader starts the guest in protected mode"
		call build_tables
		lgdt [gdtr32]
		jmp KCODE:.reload
.reload:
		mov ax, KDATA
		mov ds, ax
		mov es, ax
		mov fs, ax
		mov gs, ax
		mov ss, ax
		mov ax, TSS_SEL
		ltr ax
		lidt [idtr32]
		mov eax, PGDIR
		mov cr3, eax
		mov eax, cr0
		or eax, (1 << 31) | (1 << 16)   ; PG, WP
		mov cr0, eax

		; #DE: the saved EIP is the div, CS the kernel's, no stack switch
		EXPECT .de_done
		xor ecx, ecx
		mov eax, 1
		xor edx, edx
.de:		div ecx
.de_done:
		cmp dword [last_vector], 0
		CHECK e, "32-bit: divide by zero delivers #DE"
		cmp dword [last_eip], .de
		CHECK e, "32-bit: #DE saves the EIP of the div"
		cmp dword [last_cs], KCODE
		CHECK e, "32-bit: the frame holds CS"
		mov eax, [resume_esp]
		sub eax, 12
		cmp [last_frame], eax
		CHECK e, "32-bit: a CPL 0 event stays on the current stack (EIP, CS, EFLAGS)"

		EXPECT .ud_done
.ud:		ud2
.ud_done:
		cmp dword [last_vector], 6
		CHECK e, "32-bit: ud2 delivers #UD"
		cmp dword [last_eip], .ud
		CHECK e, "32-bit: #UD saves the EIP of ud2"

		; segment loads: beyond the GDT limit, not present (#NP / #SS)
		EXPECT .gp_done
		mov ax, BAD_SEL
		mov fs, ax
.gp_done:
		cmp dword [last_vector], 13
		CHECK e, "32-bit: a selector beyond the GDT limit delivers #GP"
		cmp dword [last_error], BAD_SEL
		CHECK e, "32-bit: #GP pushes the selector as its error code"
		EXPECT .np_done
		mov ax, NP_SEL
		mov ds, ax
.np_done:
		mov ax, KDATA
		mov ds, ax
		cmp dword [last_vector], 11
		CHECK e, "32-bit: loading DS with a not-present segment delivers #NP"
		cmp dword [last_error], NP_SEL
		CHECK e, "32-bit: #NP pushes the selector as its error code"
		EXPECT .ss_done
		mov ax, NP_SEL
		mov ss, ax
.ss_done:
		mov ax, KDATA
		mov ss, ax
		cmp dword [last_vector], 12
		CHECK e, "32-bit: loading SS with a not-present segment delivers #SS"
		cmp dword [last_error], NP_SEL
		CHECK e, "32-bit: #SS pushes the selector as its error code"

		; page faults at CPL 0
		EXPECT .pf1_done
		mov al, [PG_ABSENT + 0x44]
.pf1_done:
		cmp dword [last_vector], 14
		CHECK e, "32-bit: a read of a not-present page delivers #PF"
		cmp dword [last_error], 0
		CHECK e, "32-bit: #PF error code 0 for a supervisor read of a not-present page"
		mov eax, cr2
		cmp eax, PG_ABSENT + 0x44
		CHECK e, "32-bit: CR2 holds the address of the not-present access"
		EXPECT .pf2_done
		mov byte [PG_RO + 3], 1
.pf2_done:
		cmp dword [last_error], 3
		CHECK e, "32-bit: #PF error code P|W for a write to a read-only page (CR0.WP)"

		; #DF: the #PF gate not present
		and byte [IDT32 + 14 * 8 + 5], 0x7f
		EXPECT .df_done
		mov al, [PG_ABSENT]
.df_done:
		or byte [IDT32 + 14 * 8 + 5], 0x80
		cmp dword [last_vector], 8
		CHECK e, "32-bit: #PF through a not-present gate escalates to #DF"
		cmp dword [last_error], 0
		CHECK e, "32-bit: #DF pushes error code 0"

		; CPL 3: #UD switches to SS0:ESP0 and pushes the user SS:ESP
		EXPECT .u1_done
		mov eax, user_ud
		jmp to_user
.u1_done:
		cmp dword [last_vector], 6
		CHECK e, "32-bit: ud2 at CPL 3 delivers #UD"
		cmp dword [last_cs], UCODE
		CHECK e, "32-bit: a CPL 3 frame holds the user CS"
		cmp dword [last_esp], USTACK_TOP
		CHECK e, "32-bit: a CPL 3 frame holds the user ESP"
		cmp dword [last_ss], UDATA
		CHECK e, "32-bit: a CPL 3 frame holds the user SS"
		cmp dword [last_frame], ESP0_TOP - 20
		CHECK e, "32-bit: CPL 3 -> 0 switches to SS0:ESP0 of the TSS"

		EXPECT .u2_done
		mov eax, user_int80
		jmp to_user
.u2_done:
		cmp dword [last_vector], VEC_USER
		CHECK e, "32-bit: INT 0x80 from CPL 3 through a DPL 3 gate"
		cmp dword [last_eip], user_int80.after
		CHECK e, "32-bit: INT n saves the EIP after it"

		EXPECT .u3_done
		mov eax, user_int81
		jmp to_user
.u3_done:
		cmp dword [last_vector], 13
		CHECK e, "32-bit: INT through a DPL 0 gate from CPL 3 delivers #GP"
		cmp dword [last_error], VEC_DPL0 * 8 + 2
		CHECK e, "32-bit: that #GP's error code is the vector * 8 + 2 (IDT)"

		EXPECT .u4_done
		mov eax, user_pf_super
		jmp to_user
.u4_done:
		cmp dword [last_error], 5
		CHECK e, "32-bit: #PF error code P|U for a user read of a supervisor page"

		EXPECT .u5_done
		mov eax, user_pf_write
		jmp to_user
.u5_done:
		cmp dword [last_error], 6
		CHECK e, "32-bit: #PF error code W|U for a user write to a not-present page"

		EXPECT .u6_done
		mov eax, user_load_kdata
		jmp to_user
.u6_done:
		cmp dword [last_vector], 13
		CHECK e, "32-bit: loading a DPL 0 data segment at CPL 3 delivers #GP"
		cmp dword [last_error], KDATA
		CHECK e, "32-bit: that #GP's error code is the selector"

		EXPECT .u7_done
		mov eax, user_cli
		jmp to_user
.u7_done:
		cmp dword [last_vector], 13
		CHECK e, "32-bit: CLI at CPL 3 with IOPL 0 delivers #GP"

		EXPECT .u8_done
		mov eax, user_in
		jmp to_user
.u8_done:
		cmp dword [last_vector], 13
		CHECK e, "32-bit: IN at CPL 3 without an I/O bitmap delivers #GP"

		; SYSENTER / SYSEXIT
		mov ecx, 0x174
		mov eax, KCODE
		xor edx, edx
		wrmsr
		mov ecx, 0x175
		mov eax, SYSENTER_SP
		wrmsr
		mov ecx, 0x176
		mov eax, sysenter_entry
		wrmsr
		EXPECT .u9_done
		mov eax, user_sysenter
		jmp to_user
.u9_done:
		cmp word [sys_cs], KCODE
		CHECK e, "32-bit: SYSENTER loads CS from SYSENTER_CS"
		cmp word [sys_ss], KCODE + 8
		CHECK e, "32-bit: SYSENTER loads SS from SYSENTER_CS + 8"
		cmp dword [sys_esp], SYSENTER_SP
		CHECK e, "32-bit: SYSENTER loads ESP from SYSENTER_ESP"
		cmp word [user_cs], UCODE
		CHECK e, "32-bit: SYSEXIT returns to CS SYSENTER_CS + 16 with RPL 3"
		cmp word [user_ss], UDATA
		CHECK e, "32-bit: SYSEXIT loads SS SYSENTER_CS + 24 with RPL 3"
		cmp dword [user_esp], USTACK_TOP - 64
		CHECK e, "32-bit: SYSEXIT loads ESP from ECX"
		cmp dword [last_vector], VEC_USER
		CHECK e, "32-bit: user code runs on at EDX after SYSEXIT"

		; back to the flat set-up lib.inc expects
		mov eax, cr0
		and eax, ~(1 << 31)
		mov cr0, eax
		ret

; IRET to CPL 3 at EAX with the user stack.
to_user:
		push UDATA
		push USTACK_TOP
		push 0x2
		push UCODE
		push eax
		mov bx, UDATA
		mov ds, bx
		mov es, bx
		iret

; SYSENTER: record what it set up, SYSEXIT to EDX with ESP = ECX.
sysenter_entry:
		mov [ss:sys_cs], cs
		mov [ss:sys_ss], ss
		mov [ss:sys_esp], esp
		mov edx, user_sysenter.after
		mov ecx, USTACK_TOP - 64
		sysexit

; --- CPL 3 code (every page is user accessible) ---
user_ud:
		ud2
user_int80:
		int VEC_USER
.after:
user_int81:
		int VEC_DPL0
user_pf_super:
		mov al, [PG_SUPER]
user_pf_write:
		mov byte [PG_ABSENT + 0x10], 1
user_load_kdata:
		mov ax, KDATA
		mov ds, ax
user_cli:
		cli
user_in:
		mov dx, 0x3f8
		in al, dx
user_sysenter:
		sysenter
.after:
		mov [user_cs], cs
		mov [user_ss], ss
		mov [user_esp], esp
		int VEC_USER

; Exception stubs: vector v at stubs + 16 v.
		EXCEPTION_STUBS common_handler

; Record the event; resume where the check said, on the stack it saved.
common_handler:
		mov [ss:last_frame], esp
		add dword [ss:last_frame], 8
		mov eax, [esp]
		mov [ss:last_vector], eax
		mov eax, [esp + 4]
		mov [ss:last_error], eax
		mov eax, [esp + 8]
		mov [ss:last_eip], eax
		mov eax, [esp + 12]
		mov [ss:last_cs], eax
		mov eax, [esp + 20]
		mov [ss:last_esp], eax
		mov eax, [esp + 24]
		mov [ss:last_ss], eax
		mov ax, KDATA
		mov ds, ax
		mov es, ax
		mov eax, [resume]
		test eax, eax
		jz .unexpected
		mov dword [resume], 0
		mov esp, [resume_esp]
		jmp eax
.unexpected:
		mov esi, unexpected_msg
		call puts
		mov al, 1
		jmp debug_exit

; Page tables (0-4 MiB, 4 KiB pages, user accessible, the test pages at
; 2 MiB), the TSS and the IDT.
build_tables:
		mov edi, PGDIR
		mov ecx, 2 * 4096 / 4
		xor eax, eax
		cld
		rep stosd
		mov dword [PGDIR], PT0 | 7
		xor ecx, ecx
.pte:
		mov eax, ecx
		shl eax, 12
		or eax, 7
		mov [PT0 + ecx * 4], eax
		inc ecx
		cmp ecx, 1024
		jb .pte
		mov dword [PT0 + (PG_ABSENT >> 12) * 4], 0
		mov dword [PT0 + (PG_RO >> 12) * 4], PG_RO | 5
		mov dword [PT0 + (PG_SUPER >> 12) * 4], PG_SUPER | 3
		mov dword [tss32 + 4], ESP0_TOP
		mov dword [tss32 + 8], KDATA
		mov word [tss32 + 102], 104     ; no I/O bitmap
		mov eax, tss32
		mov [gdt32 + TSS_SEL + 2], ax
		shr eax, 16
		mov [gdt32 + TSS_SEL + 4], al
		mov [gdt32 + TSS_SEL + 7], ah
		xor ecx, ecx
.gate:
		mov eax, ecx
		shl eax, 4
		add eax, stubs
		mov edx, eax
		and eax, 0xffff
		or eax, KCODE << 16
		mov [IDT32 + ecx * 8], eax
		and edx, 0xffff0000
		or edx, 0x8e00                  ; present, DPL 0, 32-bit interrupt gate
		cmp ecx, VEC_USER
		jne .store
		or edx, 0x6000                  ; DPL 3
.store:
		mov [IDT32 + ecx * 8 + 4], edx
		inc ecx
		cmp ecx, 256
		jb .gate
		ret

		align 8
gdt32:
		dq 0
		dq 0x00cf9a000000ffff   ; 0x08 kernel code
		dq 0x00cf92000000ffff   ; 0x10 kernel data
		dq 0x00cffa000000ffff   ; 0x18 user code
		dq 0x00cff2000000ffff   ; 0x20 user data
		dq 0x0000890000000067   ; 0x28 TSS (base filled in)
		dq 0x00cf12000000ffff   ; 0x30 data, DPL 0, not present
gdt32_end:
gdtr32:		dw gdt32_end - gdt32 - 1
		dd gdt32
idtr32:		dw 256 * 8 - 1
		dd IDT32
		align 4
tss32:		times 104 db 0
unexpected_msg:	db "FAIL: unexpected exception in the protected-mode checks", 10, 0
		align 4
resume:		dd 0
resume_esp:	dd 0
last_vector:	dd 0
last_error:	dd 0
last_eip:	dd 0
last_cs:	dd 0
last_esp:	dd 0
last_ss:	dd 0
last_frame:	dd 0
sys_cs:		dw 0
sys_ss:		dw 0
sys_esp:	dd 0
user_cs:	dw 0
user_ss:	dw 0
user_esp:	dd 0
