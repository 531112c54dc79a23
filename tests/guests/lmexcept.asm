; Tiny guest 8: privileged behaviour in 64-bit long mode. From 32-bit
; protected mode it builds 4-level page tables (4 KiB pages with special
; permissions at 2-4 MiB), a 64-bit GDT with user segments and a TSS, and a
; 64-bit IDT, enters long mode and checks:
;  - exception frames: #DE, #UD, #BP, #GP with a selector error code and #GP(0)
;    for a non-canonical address (vector, saved RIP, CS, SS, RSP, error code);
;  - #NM for SSE with CR0.TS;
;  - page faults: error code bits and CR2 for not-present, write-protect (CR0.WP),
;    user-to-supervisor, NX instruction fetch, a reserved PTE bit, user write to a
;    not-present page;
;  - stacks: an IST stack for #BP and #DF, RSP0 from the TSS on a CPL 3 -> 0 event;
;  - IRETQ to CPL 3, INT 0x80 through a DPL 3 gate, #GP(IDT) through a DPL 0 gate,
;    SYSCALL/SYSRET (STAR, LSTAR, SFMASK; RCX and R11);
;  - a double fault when the #PF gate is not present (#PF then #NP);
;  - interrupt delivery: the LAPIC timer and a self-IPI.
; The 64-bit code records each check; back in 32-bit mode they are reported.

%define GUEST_NAME "lmexcept"
%include "lib.inc"

%define PML4        0x60000
%define PDPT        0x61000
%define PD0         0x62000
%define PT0         0x63000            ; 0-2 MiB in 4 KiB pages
%define PT1         0x64000            ; 2-4 MiB in 4 KiB pages (the test pages)
%define PD3         0x65000            ; 3-4 GiB (the LAPIC)
%define RSP0_TOP    0x69000
%define IST1_TOP    0x6a000
%define IST2_TOP    0x6b000
%define IDT64       0x6c000
%define PG_ABSENT   0x200000           ; not present
%define PG_RO       0x201000           ; present, read-only, user
%define PG_SUPER    0x202000           ; present, writable, supervisor only
%define PG_NX       0x203000           ; present, user, no-execute (holds a ret)
%define PG_USTACK   0x204000           ; the user stack
%define USTACK_TOP  0x205000
%define PG_RSVD     0x205000           ; a reserved bit set in its PTE

%define KCODE64     0x28
%define KDATA       0x30
%define UDATA       0x43               ; STAR[63:48] = 0x38: SS = 0x40 | 3
%define UCODE64     0x4b               ;                     CS = 0x48 | 3
%define TSS_SEL     0x50

%define LAPIC       0xfee00000
%define VEC_TIMER   0x40
%define VEC_IPI     0x41
%define VEC_SYSCALL 0x80               ; INT from user mode (DPL 3 gate)
%define VEC_DPL0    0x81               ; a DPL 0 gate user mode may not use
%define BAD_SEL     0x1230

%define MSR_EFER    0xc0000080
%define MSR_STAR    0xc0000081
%define MSR_LSTAR   0xc0000082
%define MSR_SFMASK  0xc0000084

main:
		mov [saved_esp], esp
		mov eax, 0x80000001
		cpuid
		bt edx, 29
		CHECK c, "CPUID reports long mode"
		call is_pvm
		jne .run
		SKIP "long-mode privileged checks", "PVM's instruction emulator cannot run INT n"
		ret
.run:
		; mask the 8259s: only LAPIC interrupts are wanted
		mov al, 0xff
		out 0x21, al
		out 0xa1, al
		call build_tables
		lgdt [gdtr64]
		mov eax, cr4
		or eax, (1 << 5) | (1 << 9)     ; PAE, OSFXSR
		mov cr4, eax
		mov eax, PML4
		mov cr3, eax
		mov ecx, MSR_EFER
		rdmsr
		or eax, (1 << 0) | (1 << 8) | (1 << 11) ; SCE, LME, NXE
		wrmsr
		mov eax, cr0
		or eax, (1 << 31) | (1 << 16)   ; PG, WP
		mov cr0, eax
		jmp KCODE64:long_entry
		bits 32
back32:
		LEAVE_LONG_MODE
		mov ax, DATA32_SEL
		mov ds, ax
		mov es, ax
		mov fs, ax
		mov gs, ax
		mov ss, ax
		PRINT "back in 32-bit protected mode"
		call newline
		; report what the 64-bit code recorded
		xor edi, edi
.report:
		cmp edi, [nchecks]
		jae .done
		mov al, [results + edi]
		mov esi, [names + 8 * edi]
		call report
		inc edi
		jmp .report
.done:
		ret

; Page tables: identity map of 0-1 GiB (user accessible), 4 KiB pages for
; 0-4 MiB with the test pages at 2 MiB, and the LAPIC's 2 MiB at 0xfee00000.
build_tables:
		mov edi, PML4
		mov ecx, 6 * 4096 / 4
		xor eax, eax
		cld
		rep stosd
		mov dword [PML4], PDPT | 7
		mov dword [PDPT], PD0 | 7
		mov dword [PDPT + 3 * 8], PD3 | 7
		mov dword [PD0], PT0 | 7
		mov dword [PD0 + 8], PT1 | 7
		mov ecx, 2
.pde:
		mov eax, ecx
		shl eax, 21
		or eax, 0x87                    ; present, writable, user, 2 MiB
		mov [PD0 + ecx * 8], eax
		inc ecx
		cmp ecx, 512
		jb .pde
		xor ecx, ecx
.pte:
		mov eax, ecx
		shl eax, 12
		or eax, 7
		mov [PT0 + ecx * 8], eax
		inc ecx
		cmp ecx, 512
		jb .pte
		; the test pages (PT1[0] stays 0: not present)
		mov dword [PT1 + 1 * 8], PG_RO | 5
		mov dword [PT1 + 2 * 8], PG_SUPER | 3
		mov dword [PT1 + 3 * 8], PG_NX | 7
		mov dword [PT1 + 3 * 8 + 4], 0x80000000
		mov dword [PT1 + 4 * 8], PG_USTACK | 7
		mov dword [PT1 + 5 * 8], PG_RSVD | 3
		mov dword [PT1 + 5 * 8 + 4], 1 << (45 - 32)     ; reserved (MAXPHYADDR 40)
		mov byte [PG_NX], 0xc3          ; ret
		; LAPIC: 2 MiB page, cache disabled
		mov dword [PD3 + 0x1f7 * 8], LAPIC | 0x9b
		; TSS: RSP0, IST1, IST2
		mov dword [tss64 + 4], RSP0_TOP
		mov dword [tss64 + 36], IST1_TOP
		mov dword [tss64 + 44], IST2_TOP
		mov eax, tss64
		mov [gdt64 + TSS_SEL + 2], ax
		shr eax, 16
		mov [gdt64 + TSS_SEL + 4], al
		mov [gdt64 + TSS_SEL + 7], ah
		ret

		bits 64

; --- 64-bit helpers ---

; CHECK64 cc, "name": record a check passed when condition cc holds.
%macro CHECK64 2
		set%1 al
		jmp %%go
%%name:		db %2, 0
%%go:
		mov rdi, [rel nchecks]
		mov [results + rdi], al
		lea rsi, [rel %%name]
		mov [names + rdi * 8], rsi
		inc qword [rel nchecks]
%endmacro

; EXPECT label: the next exception resumes at label in ring 0 with this RSP.
%macro EXPECT 1
		mov qword [rel resume], %1
		mov [rel resume_rsp], rsp
		mov qword [rel last_vector], -1
%endmacro

; Write the NUL-terminated string at RSI to COM1.
puts64:
		POLL_PUTS
		ret

; An exception nobody expected: say so and stop.
fatal:
		lea rsi, [rel fatal_msg]
		call puts64
		mov al, 1
		mov dx, DEBUG_EXIT_PORT
		out dx, al
.hang:
		cli
		hlt
		jmp .hang

; IRETQ to CPL 3 at RAX with the stack at RBX; an exception or INT 0x80 there
; resumes at [resume] in ring 0.
to_user:
		push UDATA
		push rbx
		push 0x2
		push UCODE64
		push rax
		iretq

; Exception and interrupt stubs: vector v at stubs + 16 v.
		EXCEPTION_STUBS common_handler

; The common handler: record the event, EOI interrupts, resume expected faults.
common_handler:
		push rax
		mov rax, [rsp + 8]
		mov [rel last_vector], rax
		mov rax, [rsp + 16]
		mov [rel last_error], rax
		mov rax, [rsp + 24]
		mov [rel last_rip], rax
		mov rax, [rsp + 32]
		mov [rel last_cs], rax
		mov rax, [rsp + 40]
		mov [rel last_rflags], rax
		mov rax, [rsp + 48]
		mov [rel last_rsp], rax
		mov rax, [rsp + 56]
		mov [rel last_ss], rax
		lea rax, [rsp + 24]
		mov [rel last_frame], rax
		mov rax, cr2
		mov [rel last_cr2], rax
		mov rax, [rsp + 8]
		cmp rax, VEC_TIMER
		je .eoi
		cmp rax, VEC_IPI
		je .eoi
		mov rax, [rel resume]
		test rax, rax
		jz fatal
		mov [rsp + 24], rax
		mov qword [rsp + 32], KCODE64
		mov rax, [rel resume_rsp]
		mov [rsp + 48], rax
		mov qword [rsp + 56], KDATA
		mov qword [rel resume], 0
		jmp .out
.eoi:
		inc qword [rel irq_count]
		mov eax, LAPIC                  ; above 2 GiB: not a disp32
		mov dword [rax + 0xb0], 0
.out:
		pop rax
		add rsp, 16
		iretq

; SYSCALL entry (LSTAR): record what the SDM says SYSCALL sets up, SYSRET back.
syscall_entry:
		mov [rel sys_rcx], rcx
		mov [rel sys_r11], r11
		mov [rel sys_rax], rax
		pushfq
		pop qword [rel sys_rflags]
		mov [rel sys_cs], cs
		mov [rel sys_ss], ss
		o64 sysret

; --- user-mode code (the guest image is user accessible) ---
user_ud:
		ud2
user_int80:
		int VEC_SYSCALL
.after:
user_int81:
		int VEC_DPL0
user_pf_super:
		mov al, [PG_SUPER]
user_pf_write:
		mov byte [PG_ABSENT + 0x10], 1
user_sys:
		std
		mov rax, 0x1234
		syscall
.after:
		mov [rel user_cs], cs
		mov [rel user_ss], ss
		cld
		int VEC_SYSCALL

; --- the checks ---
long_entry:
		mov ax, KDATA
		mov ds, ax
		mov es, ax
		mov ss, ax
		mov esp, [rel saved_esp]
		and rsp, ~0xf
		mov ax, TSS_SEL
		ltr ax
		call build_idt
		lidt [rel idtr64]

		; #DE: a fault, the saved RIP is the div; no error code; CS/SS/RSP of ring 0
		EXPECT .de_done
		xor ecx, ecx
		mov eax, 1
		xor edx, edx
.de:		div ecx
.de_done:
		cmp qword [rel last_vector], 0
		CHECK64 e, "64-bit: divide by zero delivers #DE (vector 0)"
		lea rax, [rel .de]
		cmp [rel last_rip], rax
		CHECK64 e, "64-bit: #DE saves the RIP of the div"
		cmp qword [rel last_cs], KCODE64
		CHECK64 e, "64-bit: the frame holds CS"
		cmp qword [rel last_ss], KDATA
		CHECK64 e, "64-bit: the frame holds SS"
		mov rax, [rel resume_rsp]
		cmp [rel last_rsp], rax
		CHECK64 e, "64-bit: the frame holds the RSP of the faulting code"

		; #UD
		EXPECT .ud_done
.ud:		ud2
.ud_done:
		cmp qword [rel last_vector], 6
		CHECK64 e, "64-bit: ud2 delivers #UD (vector 6)"
		lea rax, [rel .ud]
		cmp [rel last_rip], rax
		CHECK64 e, "64-bit: #UD saves the RIP of ud2"

		; #GP with the selector as error code
		EXPECT .gp_done
		mov ax, BAD_SEL
		mov fs, ax
.gp_done:
		cmp qword [rel last_vector], 13
		CHECK64 e, "64-bit: a selector beyond the GDT limit delivers #GP"
		cmp qword [rel last_error], BAD_SEL
		CHECK64 e, "64-bit: #GP pushes the selector as its error code"

		; #GP(0) for a non-canonical address
		EXPECT .nc_done
		mov rax, 0x8000000000000000
		mov rax, [rax]
.nc_done:
		cmp qword [rel last_vector], 13
		CHECK64 e, "64-bit: a non-canonical address delivers #GP"
		cmp qword [rel last_error], 0
		CHECK64 e, "64-bit: #GP for a non-canonical address has error code 0"

		; (#SS(0) for a non-canonical RBP/RSP-based reference is compared with
		; the hardware by tests/difftest; QEMU's TCG raises #GP there)

		; #NM: an SSE instruction with CR0.TS set
		mov rax, cr0
		or eax, 1 << 3
		mov cr0, rax
		EXPECT .nm_done
.nm:		movaps xmm0, xmm1
.nm_done:
		clts
		cmp qword [rel last_vector], 7
		CHECK64 e, "64-bit: SSE with CR0.TS delivers #NM"
		lea rax, [rel .nm]
		cmp [rel last_rip], rax
		CHECK64 e, "64-bit: #NM saves the RIP of the instruction"

		; #PF: a reserved bit in the page-table entry
		EXPECT .rsvd_done
		mov al, [PG_RSVD + 4]
.rsvd_done:
		; (hardware sets P|RSVD = 9; QEMU's TCG reports RSVD alone)
		test qword [rel last_error], 8
		CHECK64 nz, "64-bit: #PF error code has RSVD for a reserved PTE bit"
		cmp qword [rel last_cr2], PG_RSVD + 4
		CHECK64 e, "64-bit: CR2 holds the address of the reserved-bit fault"

		; #PF: read of a not-present page
		EXPECT .pf1_done
		mov al, [PG_ABSENT + 0x123]
.pf1_done:
		cmp qword [rel last_vector], 14
		CHECK64 e, "64-bit: a read of a not-present page delivers #PF"
		cmp qword [rel last_error], 0
		CHECK64 e, "64-bit: #PF error code 0 for a supervisor read of a not-present page"
		cmp qword [rel last_cr2], PG_ABSENT + 0x123
		CHECK64 e, "64-bit: CR2 holds the address of the not-present access"

		; #PF: write to a read-only page with CR0.WP
		EXPECT .pf2_done
		mov byte [PG_RO + 8], 1
.pf2_done:
		cmp qword [rel last_error], 3
		CHECK64 e, "64-bit: #PF error code P|W for a write to a read-only page (CR0.WP)"
		cmp qword [rel last_cr2], PG_RO + 8
		CHECK64 e, "64-bit: CR2 holds the address of the write-protect fault"

		; #PF: instruction fetch from a no-execute page
		EXPECT .pf3_done
		mov eax, PG_NX
		call rax
.pf3_done:
		cmp qword [rel last_error], 0x11
		CHECK64 e, "64-bit: #PF error code P|I for a fetch from an NX page"
		cmp qword [rel last_rip], PG_NX
		CHECK64 e, "64-bit: an NX fault saves the RIP of the target"

		; #BP on the IST1 stack (a trap: the saved RIP follows int3)
		EXPECT .bp_done
		int3
.bp_after:
.bp_done:
		cmp qword [rel last_vector], 3
		CHECK64 e, "64-bit: int3 delivers #BP"
		lea rax, [rel .bp_after]
		cmp [rel last_rip], rax
		CHECK64 e, "64-bit: #BP saves the RIP after int3"
		cmp qword [rel last_frame], IST1_TOP - 40
		CHECK64 e, "64-bit: the #BP gate's IST1 stack holds the frame"

		; #DF: the #PF gate not present, so #PF then #NP escalates (on IST2)
		and byte [IDT64 + 14 * 16 + 5], 0x7f
		EXPECT .df_done
		mov al, [PG_ABSENT]
.df_done:
		or byte [IDT64 + 14 * 16 + 5], 0x80
		cmp qword [rel last_vector], 8
		CHECK64 e, "64-bit: #PF through a not-present gate escalates to #DF"
		cmp qword [rel last_error], 0
		CHECK64 e, "64-bit: #DF pushes error code 0"
		cmp qword [rel last_frame], IST2_TOP - 40
		CHECK64 e, "64-bit: the #DF gate's IST2 stack holds the frame"

		; user mode: IRETQ to CPL 3, #UD there switches to RSP0 of the TSS
		EXPECT .u1_done
		lea rax, [rel user_ud]
		mov ebx, USTACK_TOP
		jmp to_user
.u1_done:
		cmp qword [rel last_vector], 6
		CHECK64 e, "64-bit: ud2 at CPL 3 delivers #UD"
		cmp qword [rel last_cs], UCODE64
		CHECK64 e, "64-bit: a CPL 3 frame holds the user CS"
		cmp qword [rel last_ss], UDATA
		CHECK64 e, "64-bit: a CPL 3 frame holds the user SS"
		cmp qword [rel last_rsp], USTACK_TOP
		CHECK64 e, "64-bit: a CPL 3 frame holds the user RSP"
		cmp qword [rel last_frame], RSP0_TOP - 40
		CHECK64 e, "64-bit: CPL 3 -> 0 switches to RSP0 from the TSS"

		; INT 0x80 from user mode through a DPL 3 gate
		EXPECT .u2_done
		lea rax, [rel user_int80]
		mov ebx, USTACK_TOP
		jmp to_user
.u2_done:
		cmp qword [rel last_vector], VEC_SYSCALL
		CHECK64 e, "64-bit: INT 0x80 from CPL 3 through a DPL 3 gate"
		lea rax, [rel user_int80.after]
		cmp [rel last_rip], rax
		CHECK64 e, "64-bit: INT n saves the RIP after it"

		; INT through a DPL 0 gate from user mode: #GP(vector * 8 + 2)
		EXPECT .u3_done
		lea rax, [rel user_int81]
		mov ebx, USTACK_TOP
		jmp to_user
.u3_done:
		cmp qword [rel last_vector], 13
		CHECK64 e, "64-bit: INT through a DPL 0 gate from CPL 3 delivers #GP"
		; (the index field is the vector, vector * 8 + 2 = 0x40a on hardware; QEMU's
		; TCG reports vector * 16 + 2, so only the IDT and EXT bits are checked)
		mov rax, [rel last_error]
		and eax, 7
		cmp eax, 2
		CHECK64 e, "64-bit: that #GP's error code has the IDT bit and not EXT"

		; user read of a supervisor page
		EXPECT .u4_done
		lea rax, [rel user_pf_super]
		mov ebx, USTACK_TOP
		jmp to_user
.u4_done:
		cmp qword [rel last_error], 5
		CHECK64 e, "64-bit: #PF error code P|U for a user read of a supervisor page"
		cmp qword [rel last_cr2], PG_SUPER
		CHECK64 e, "64-bit: CR2 holds the supervisor page's address"

		; user write to a not-present page
		EXPECT .u5_done
		lea rax, [rel user_pf_write]
		mov ebx, USTACK_TOP
		jmp to_user
.u5_done:
		cmp qword [rel last_error], 6
		CHECK64 e, "64-bit: #PF error code W|U for a user write to a not-present page"

		; SYSCALL / SYSRET
		mov ecx, MSR_STAR
		xor eax, eax
		mov edx, (0x38 << 16) | KCODE64
		wrmsr
		mov ecx, MSR_LSTAR
		lea rax, [rel syscall_entry]
		xor edx, edx
		wrmsr
		mov ecx, MSR_SFMASK
		mov eax, 0x400                  ; clear DF on entry
		xor edx, edx
		wrmsr
		EXPECT .u6_done
		lea rax, [rel user_sys]
		mov ebx, USTACK_TOP
		jmp to_user
.u6_done:
		lea rax, [rel user_sys.after]
		cmp [rel sys_rcx], rax
		CHECK64 e, "64-bit: SYSCALL saves the return RIP in RCX"
		test qword [rel sys_r11], 0x400
		CHECK64 nz, "64-bit: SYSCALL saves RFLAGS (with DF) in R11"
		test qword [rel sys_rflags], 0x400
		CHECK64 z, "64-bit: SFMASK clears DF on SYSCALL"
		cmp word [rel sys_cs], KCODE64
		CHECK64 e, "64-bit: SYSCALL loads CS from STAR[47:32]"
		cmp word [rel sys_ss], KDATA
		CHECK64 e, "64-bit: SYSCALL loads SS from STAR[47:32] + 8"
		cmp qword [rel sys_rax], 0x1234
		CHECK64 e, "64-bit: SYSCALL keeps RAX"
		cmp word [rel user_cs], UCODE64
		CHECK64 e, "64-bit: SYSRET returns to the 64-bit user CS of STAR[63:48] + 16"
		cmp word [rel user_ss], UDATA
		CHECK64 e, "64-bit: SYSRET loads the user SS of STAR[63:48] + 8"
		cmp qword [rel last_vector], VEC_SYSCALL
		CHECK64 e, "64-bit: user code runs on after SYSRET"

		; LAPIC timer: one shot, vector 0x40
		mov ebx, LAPIC
		mov dword [rbx + 0xf0], 0x1ff           ; software enable, spurious 0xff
		mov dword [rbx + 0x3e0], 0xb            ; divide by 1
		mov dword [rbx + 0x320], VEC_TIMER      ; one shot
		mov qword [rel irq_count], 0
		mov qword [rel last_vector], -1
		mov dword [rbx + 0x380], 20000
		sti
		mov ecx, 5000000
.tw:
		cmp qword [rel irq_count], 0
		jne .t_done
		pause
		dec ecx
		jnz .tw
.t_done:
		; wait as long again: a one-shot timer must not fire a second time
		mov ecx, 200000
.tw2:
		pause
		dec ecx
		jnz .tw2
		cli
		cmp qword [rel last_vector], VEC_TIMER
		CHECK64 e, "64-bit: the LAPIC timer interrupt arrives (vector 0x40)"
		cmp qword [rel irq_count], 1
		CHECK64 e, "64-bit: a one-shot LAPIC timer fires once"

		; self-IPI, fixed delivery, vector 0x41
		mov qword [rel irq_count], 0
		mov qword [rel last_vector], -1
		mov dword [rbx + 0x300], (1 << 18) | VEC_IPI
		sti
		mov ecx, 1000000
.iw:
		cmp qword [rel irq_count], 0
		jne .i_done
		pause
		dec ecx
		jnz .iw
.i_done:
		cli
		cmp qword [rel last_vector], VEC_IPI
		CHECK64 e, "64-bit: a self-IPI is delivered (vector 0x41)"

		; back to 32-bit compatibility code, then out of long mode
		push DATA32_SEL
		mov eax, [rel saved_esp]
		push rax
		pushfq
		push CODE32_SEL
		lea rax, [rel back32]
		push rax
		iretq

; The 64-bit IDT: interrupt gates to the stubs, #BP on IST1, #DF on IST2,
; INT 0x80 allowed from user mode.
build_idt:
		xor ecx, ecx
.gate:
		mov rax, rcx
		shl rax, 4
		lea rdx, [rel stubs]
		add rdx, rax                     ; handler address
		lea rdi, [IDT64 + rax]
		mov eax, edx
		and eax, 0xffff
		or eax, KCODE64 << 16
		mov [rdi], eax
		mov eax, edx
		and eax, 0xffff0000
		or eax, 0x8e00                   ; present, DPL 0, interrupt gate
		cmp ecx, VEC_SYSCALL
		jne .dpl
		or eax, 0x6000                   ; DPL 3
.dpl:
		cmp ecx, 3
		jne .ist2
		or eax, 1                        ; IST1
.ist2:
		cmp ecx, 8
		jne .store
		or eax, 2                        ; IST2
.store:
		mov [rdi + 4], eax
		shr rdx, 32
		mov [rdi + 8], edx
		mov dword [rdi + 12], 0
		inc ecx
		cmp ecx, 256
		jb .gate
		ret

		align 8
gdt64:
		dq 0
		dq 0x00cf9a000000ffff   ; 0x08 code, 32-bit
		dq 0x00cf92000000ffff   ; 0x10 data
		dq 0
		dq 0
		dq 0x00af9a000000ffff   ; 0x28 kernel code, 64-bit
		dq 0x00cf92000000ffff   ; 0x30 kernel data
		dq 0x00cffa000000ffff   ; 0x38 user code, 32-bit (SYSRET to compatibility mode)
		dq 0x00cff2000000ffff   ; 0x40 user data
		dq 0x00affa000000ffff   ; 0x48 user code, 64-bit
		dq 0x0000890000000067   ; 0x50 TSS (base filled in by build_tables)
		dq 0
gdt64_end:
gdtr64:		dw gdt64_end - gdt64 - 1
		dd gdt64
idtr64:		dw 256 * 16 - 1
		dq IDT64
		align 16
tss64:		times 104 db 0
fatal_msg:	db "FAIL: unexpected exception in the long-mode checks", 10, 0
		align 8
saved_esp:	dq 0
resume:		dq 0
resume_rsp:	dq 0
last_vector:	dq 0
last_error:	dq 0
last_rip:	dq 0
last_cs:	dq 0
last_rflags:	dq 0
last_rsp:	dq 0
last_ss:	dq 0
last_frame:	dq 0
last_cr2:	dq 0
irq_count:	dq 0
sys_rcx:	dq 0
sys_r11:	dq 0
sys_rax:	dq 0
sys_rflags:	dq 0
sys_cs:		dw 0
sys_ss:		dw 0
user_cs:	dw 0
user_ss:	dw 0
		align 8
nchecks:	dq 0
names:		times 64 dq 0
results:	times 64 db 0
