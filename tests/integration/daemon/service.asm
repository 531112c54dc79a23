; Tiny guest for berthd's tests: prints "berth-service ready" on COM1, then
; polls forever:
;  - COM1 input: each byte is echoed back (upper-cased, so the test can tell
;    the echo from its own input);
;  - the ACPI power button (PWRBTN_STS in PM1a_STS): the guest then powers off
;    cleanly through PM1a_CNT (SLP_TYP = S5, SLP_EN), as an ACPI OS would.
; A Multiboot v1 kernel with the a.out kludge (loads as a flat binary).

bits 32
%define LOAD_ADDR   0x100000
%define MB_MAGIC    0x1BADB002
%define MB_FLAGS    0x00010000         ; a.out kludge only
%define COM1        0x3f8
%define COM1_LSR    (COM1 + 5)
%define LSR_DR      0x01               ; receive data ready
%define LSR_THRE    0x20               ; transmit holding register empty
%define PM1A_STS    0x600
%define PM1A_CNT    0x604
%define PWRBTN_STS  0x0100
%define S5_SLP      ((5 << 10) | (1 << 13)) ; SLP_TYP = 5, SLP_EN
		org LOAD_ADDR
mb_header:
		dd MB_MAGIC
		dd MB_FLAGS
		dd -(MB_MAGIC + MB_FLAGS)
		dd mb_header
		dd LOAD_ADDR
		dd 0
		dd 0
		dd entry
entry:
		cli
		mov esp, 0x90000        ; a stack in conventional memory
		mov esi, ready
		call puts
.poll:
		mov dx, PM1A_STS
		in ax, dx
		test ax, PWRBTN_STS
		jnz .power_off
		mov dx, COM1_LSR
		in al, dx
		test al, LSR_DR
		jz .poll
		mov dx, COM1
		in al, dx
		cmp al, 'a'
		jb .echo
		cmp al, 'z'
		ja .echo
		sub al, 'a' - 'A'
.echo:
		call putc
		jmp .poll
.power_off:
		mov dx, PM1A_STS
		mov ax, PWRBTN_STS      ; write 1 to clear, as an OS acknowledges it
		out dx, ax
		mov esi, bye
		call puts
		mov dx, PM1A_CNT
		mov ax, S5_SLP
		out dx, ax
.hang:
		hlt
		jmp .hang

; putc: AL to COM1 once the transmitter is ready.
putc:
		push eax
		mov dx, COM1_LSR
.wait:
		in al, dx
		test al, LSR_THRE
		jz .wait
		pop eax
		mov dx, COM1
		out dx, al
		ret

; puts: the NUL-terminated string at ESI.
puts:
		lodsb
		test al, al
		jz .done
		call putc
		jmp puts
.done:
		ret

ready:		db "berth-service ready", 10, 0
bye:		db "berth-service power button: off", 10, 0
