package redistest

import "syscall"

// sysProcAttr makes the kernel kill the server with the test binary, which
// covers a binary that crashes or is killed before its cleanups run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
