package stripemock

import "syscall"

// sysProcAttr has the kernel kill stripe-mock when the thread that started it
// ends, so a test binary that dies without running Main's cleanup (a -timeout
// panic, a kill) leaves no stripe-mock behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
