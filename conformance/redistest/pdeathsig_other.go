//go:build !linux

package redistest

import "syscall"

// sysProcAttr has no parent-death signal to set outside Linux; cleanups and
// Main are the only way servers stop there.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
