//go:build !linux

package stripemock

import "syscall"

// sysProcAttr is empty where the kernel cannot kill a child with its parent:
// there, Main's cleanup alone stops stripe-mock.
func sysProcAttr() *syscall.SysProcAttr { return nil }
