; Tiny guest 6: several CPUs. The boot CPU checks its APIC ID and the CPU
; count in CPUID, then wakes every other CPU with INIT and SIPI (broadcast to
; all but itself); each AP starts in real mode at 0x8000, reads its APIC ID
; from CPUID and checks in. The command line's "cpus=N" says how many CPUs
; the machine was given.

%define GUEST_NAME "smp"
%include "lib.inc"

%define LAPIC          0xfee00000
%define LAPIC_SVR      0xf0
%define LAPIC_ICR_LO   0x300
%define TRAMPOLINE     0x8000          ; SIPI vector 8
%define AP_COUNT       0x9000          ; byte: APs that checked in
%define AP_SEEN        0x9010          ; byte per APIC ID: 1 once that AP ran
%define WAIT_LOOPS     20000000

main:
		mov edi, cpus_key
		call cmdline_number
		mov [ncpus], eax
		PRINT "cpus on the command line: "
		call putdec
		call newline
		cmp dword [ncpus], 2
		CHECK ae, "the command line asks for at least 2 CPUs"

		mov eax, 1
		cpuid
		mov eax, ebx
		shr eax, 24
		cmp eax, 0
		CHECK e, "CPUID.1 gives the boot CPU APIC ID 0"
		; with HTT set, EBX[23:16] is the number of addressable logical CPUs
		; in the package (a power of two or more); HTT clear means one CPU
		; per package, which leaves nothing to check here
		test edx, 1 << 28
		jz .no_htt
		mov eax, ebx
		shr eax, 16
		and eax, 0xff
		cmp eax, [ncpus]
		CHECK ae, "CPUID.1 EBX[23:16] covers every CPU of the package"
		jmp .wake
.no_htt:
		SKIP "CPUID.1 EBX[23:16] covers every CPU of the package", "HTT clear: one CPU per package"
.wake:

		; AP trampoline, counters
		mov esi, section.ap.start
		mov edi, TRAMPOLINE
		mov ecx, ap_size
		cld
		rep movsb
		mov edi, AP_COUNT
		mov ecx, 0x20 + 256
		xor eax, eax
		rep stosb

		mov dword [LAPIC + LAPIC_SVR], 0x1ff
		mov dword [LAPIC + LAPIC_ICR_LO], 0x000c4500   ; INIT, all but self
		call delay
		mov dword [LAPIC + LAPIC_ICR_LO], 0x000c4600 | (TRAMPOLINE >> 12) ; SIPI
		call delay
		mov dword [LAPIC + LAPIC_ICR_LO], 0x000c4600 | (TRAMPOLINE >> 12) ; SIPI again

		mov ecx, WAIT_LOOPS
		mov edx, [ncpus]
		dec edx
.wait:
		movzx eax, byte [AP_COUNT]
		cmp eax, edx
		jae .counted
		pause
		loop .wait
.counted:
		PRINT "APs checked in: "
		movzx eax, byte [AP_COUNT]
		call putdec
		call newline
		movzx eax, byte [AP_COUNT]
		cmp eax, edx
		CHECK e, "every AP started after INIT/SIPI"

		; APIC IDs 1 .. ncpus-1 each seen once, nothing else
		xor ebx, ebx
		mov ecx, 1
.ids:
		cmp ecx, [ncpus]
		jae .ids_done
		cmp byte [AP_SEEN + ecx], 1
		jne .ids_bad
		inc ecx
		jmp .ids
.ids_bad:
		mov ebx, 1
.ids_done:
		cmp byte [AP_SEEN], 0
		jne .ids_bad2
		jmp .ids_report
.ids_bad2:
		mov ebx, 1
.ids_report:
		test ebx, ebx
		CHECK z, "the APs have APIC IDs 1 to N-1 in CPUID"
		ret

; A short pause between IPIs (real hardware wants 10 ms / 200 us; a VM does not).
delay:
		push ecx
		mov ecx, 1000
.spin:		pause
		loop .spin
		pop ecx
		ret

		align 4
ncpus:		dd 0
cpus_key:	db "cpus=", 0

; ---------------------------------------------------------------------------
; AP trampoline, copied to TRAMPOLINE: real mode, CS = 0x800, IP = 0.
		section ap vstart=0 align=16
		bits 16
ap_entry:
		cli
		xor ax, ax
		mov ds, ax
		mov eax, 1
		cpuid
		shr ebx, 24
		mov byte [AP_SEEN + bx], 1
		lock inc byte [AP_COUNT]
.halt:
		hlt
		jmp .halt
ap_size		equ $ - $$
