# shellcheck shell=bash
# Shared by the boot benchmarks (sourced).

# boot_times QEMU-ARGS...: one QEMU TCG boot with the serial console on
# stdout, timed on the host as its lines arrive; prints "TO-INIT TO-REAL"
# seconds from QEMU's start to the kernel's "Run /init" and to the demo's
# real init's first line ("mklive-demo:"), or nothing when it did not get
# there within 300 s.
boot_times() {
	local line t_init='' t_real='' start
	start=$(date +%s.%N)
	coproc Q { exec timeout 300 qemu-system-x86_64 -accel tcg -m 1024 -nographic -no-reboot \
		-monitor none -serial stdio "$@" 2>&1 </dev/null; }
	local qpid=$Q_PID
	while IFS= read -r line <&"${Q[0]}"; do
		case $line in
		*"Run /init as init process"*) t_init=$(date +%s.%N) ;;
		*mklive-demo:*) t_real=$(date +%s.%N); break ;;
		esac
	done
	kill "$qpid" 2>/dev/null || true
	wait "$qpid" 2>/dev/null || true
	if [ -n "$t_init" ] && [ -n "$t_real" ]; then
		printf '%.2f %.2f\n' "$(echo "$t_init - $start" | bc -l)" "$(echo "$t_real - $start" | bc -l)"
	fi
}
