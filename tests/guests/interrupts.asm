; Tiny guest 3: exceptions and interrupts through a 32-bit IDT.
; int3 (#BP, a trap), a divide by zero (#DE, a fault), ud2 (#UD), a #GP with an
; error code, a software int 0x40, then PIT interrupts: first through the 8259
; PIC with the LAPIC in virtual-wire mode, then through IOAPIC pin 2, where a
; PC routes ISA IRQ 0.

%define GUEST_NAME "interrupts"
%include "lib.inc"

%define LAPIC           0xfee00000
%define LAPIC_ID        0x20
%define LAPIC_EOI       0xb0
%define LAPIC_SVR       0xf0
%define LAPIC_LVT0      0x350
%define IOAPIC          0xfec00000
%define PIC1            0x20
%define PIC2            0xa0
%define PIT_CH0         0x40
%define PIT_CMD         0x43
%define PIT_COUNT       11932          ; ~100 Hz
%define VEC_PIC_BASE    0x20
%define VEC_IOAPIC_PIT  0x30
%define VEC_SOFT        0x40
%define BAD_SELECTOR    0x1230         ; beyond the GDT limit: #GP(0x1230)
%define TICKS_WANTED    3

main:
		call idt_init
		lidt [idtr]
		call is_pvm
		sete [pvm]

		; int3 is a trap: the saved EIP is the next instruction
		cmp byte [pvm], 0
		jne .skip_int3
		int3
.after_int3:
		cmp dword [last_vector], 3
		CHECK e, "int3 delivers #BP (vector 3)"
		cmp dword [last_eip], .after_int3
		CHECK e, "#BP saves the EIP after int3"
		jmp .div_test
.skip_int3:
		SKIP "int3 delivers #BP", "PVM's emulator cannot run int3"
.div_test:

		; divide error is a fault: the saved EIP is the div itself
		mov dword [skip], 2
		xor ecx, ecx
		mov eax, 1
		xor edx, edx
.div:		div ecx
		cmp dword [last_vector], 0
		CHECK e, "divide by zero delivers #DE (vector 0)"
		cmp dword [last_eip], .div
		CHECK e, "#DE saves the EIP of the div"

		mov dword [skip], 2
.ud:		ud2
		cmp dword [last_vector], 6
		CHECK e, "ud2 delivers #UD (vector 6)"
		cmp dword [last_eip], .ud
		CHECK e, "#UD saves the EIP of ud2"

		; loading a selector beyond the GDT limit: #GP with it as error code
		mov dword [skip], 2
		mov ax, BAD_SELECTOR
.gp:		mov fs, ax
		cmp dword [last_vector], 13
		CHECK e, "bad selector delivers #GP (vector 13)"
		cmp dword [last_error], BAD_SELECTOR
		CHECK e, "#GP pushes the selector as its error code"
		mov ax, DATA32_SEL
		mov fs, ax

		cmp byte [pvm], 0
		jne .skip_int
		int VEC_SOFT
		cmp dword [last_vector], VEC_SOFT
		CHECK e, "int 0x40 runs its IDT handler"
		jmp .lapic
.skip_int:
		SKIP "int 0x40 runs its IDT handler", "PVM's emulator cannot run int n"
.lapic:

		mov eax, [LAPIC + LAPIC_ID]
		shr eax, 24
		cmp eax, 0
		CHECK e, "LAPIC ID of the boot CPU is 0"

		call timer_pic
		call timer_ioapic
		ret

; PIT channel 0 at ~100 Hz through the PIC (IRQ 0 -> vector 0x20), the LAPIC
; in virtual-wire mode (LVT0 ExtINT) as a BIOS would leave it.
timer_pic:
		mov dword [LAPIC + LAPIC_SVR], 0x1ff    ; APIC on, spurious vector 0xff
		mov dword [LAPIC + LAPIC_LVT0], 0x700   ; ExtINT, unmasked
		mov al, 0x11                    ; ICW1: edge, cascade, ICW4
		out PIC1, al
		out PIC2, al
		mov al, VEC_PIC_BASE            ; ICW2: vector base
		out PIC1 + 1, al
		mov al, VEC_PIC_BASE + 8
		out PIC2 + 1, al
		mov al, 4                       ; ICW3: slave on IRQ 2
		out PIC1 + 1, al
		mov al, 2
		out PIC2 + 1, al
		mov al, 1                       ; ICW4: 8086 mode
		out PIC1 + 1, al
		out PIC2 + 1, al
		mov al, 0xfe                    ; only IRQ 0
		out PIC1 + 1, al
		mov al, 0xff
		out PIC2 + 1, al
		call pit_start
		mov dword [ticks], 0
		mov dword [tick_vector], 0
		sti
.wait:		hlt
		cmp dword [ticks], TICKS_WANTED
		jb .wait
		cli
		mov al, 0xff                    ; mask the PIC again
		out PIC1 + 1, al
		cmp dword [tick_vector], VEC_PIC_BASE
		CHECK e, "PIT interrupts arrive through the 8259 PIC (vector 0x20)"
		ret

; The same timer through IOAPIC pin 2 (ISA IRQ 0 on a PC) -> vector 0x30.
timer_ioapic:
		mov dword [LAPIC + LAPIC_LVT0], 0x10700 ; virtual wire off (masked)
		mov dword [IOAPIC], 0x10 + 2 * 2 + 1    ; redirection entry 2, high half
		mov dword [IOAPIC + 0x10], 0            ; destination APIC 0
		mov dword [IOAPIC], 0x10 + 2 * 2        ; low half
		mov dword [IOAPIC + 0x10], VEC_IOAPIC_PIT ; fixed, physical, edge, unmasked
		call pit_start
		mov dword [ticks], 0
		mov dword [tick_vector], 0
		sti
.wait:		hlt
		cmp dword [ticks], TICKS_WANTED
		jb .wait
		cli
		mov dword [IOAPIC], 0x10 + 2 * 2
		mov dword [IOAPIC + 0x10], 0x10000      ; mask pin 2
		cmp dword [tick_vector], VEC_IOAPIC_PIT
		CHECK e, "PIT interrupts arrive through IOAPIC pin 2 (vector 0x30)"
		ret

; Channel 0, lobyte/hibyte, mode 2 (rate generator).
pit_start:
		mov al, 0x34
		out PIT_CMD, al
		mov al, PIT_COUNT & 0xff
		out PIT_CH0, al
		mov al, PIT_COUNT >> 8
		out PIT_CH0, al
		ret

; --- the IDT: 256 gates to stubs that push (error code,) vector ---

idt_init:
		xor ecx, ecx
.gate:
		mov eax, [stubs + ecx * 4]
		mov [idt + ecx * 8], ax                 ; offset 15:0
		mov word [idt + ecx * 8 + 2], CODE32_SEL
		mov word [idt + ecx * 8 + 4], 0x8e00    ; present, DPL 0, 32-bit interrupt gate
		shr eax, 16
		mov [idt + ecx * 8 + 6], ax             ; offset 31:16
		inc ecx
		cmp ecx, 256
		jb .gate
		ret

; Vectors for which the CPU pushes an error code.
%define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21)

%assign v 0
%rep 256
stub_%+v:
%if !HAS_ERROR(v)
		push dword 0
%endif
		push dword v
		jmp isr_common
%assign v v + 1
%endrep

stubs:
%assign v 0
%rep 256
		dd stub_%+v
%assign v v + 1
%endrep

; Stack: vector, error code, EIP, CS, EFLAGS. Exceptions are recorded and
; resume [skip] bytes further (0 for traps); IRQs count ticks and EOI. On PVM
; the handler returns without IRET (see lib.inc).
isr_common:
		push eax
		mov eax, [esp + 4]
		cmp eax, VEC_PIC_BASE
		je .pic_tick
		cmp eax, VEC_IOAPIC_PIT
		je .ioapic_tick
		cmp eax, 0xff
		je .done                        ; spurious: no EOI
		mov [last_vector], eax
		mov eax, [esp + 8]
		mov [last_error], eax
		mov eax, [esp + 12]
		mov [last_eip], eax
		add eax, [skip]
		mov [esp + 12], eax
		mov dword [skip], 0
		jmp .done
.pic_tick:
		mov [tick_vector], eax
		inc dword [ticks]
		mov al, 0x20                    ; non-specific EOI
		out PIC1, al
		jmp .done
.ioapic_tick:
		mov [tick_vector], eax
		inc dword [ticks]
		mov dword [LAPIC + LAPIC_EOI], 0
.done:
		pop eax
		add esp, 8
		cmp byte [pvm], 0
		jne .no_iret
		iret
.no_iret:
		; PVM: reorder the frame to EFLAGS, EIP, CS and return with popfd + retf
		push eax
		mov eax, [esp + 12]
		xchg eax, [esp + 4]
		xchg eax, [esp + 8]
		mov [esp + 12], eax
		pop eax
		popfd
		retf

		align 4
last_vector:	dd -1
last_error:	dd -1
last_eip:	dd 0
skip:		dd 0
ticks:		dd 0
tick_vector:	dd 0
pvm:		db 0
idtr:		dw 256 * 8 - 1
		dd idt
		align 8
idt:		times 256 * 8 db 0
