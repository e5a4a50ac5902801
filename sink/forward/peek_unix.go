//go:build linux || darwin || freebsd || netbsd || openbsd

package forward

import (
	"errors"
	"net"
	"syscall"
)

// peekSocket looks at the socket under c without blocking and without
// taking bytes from it.
func peekSocket(c net.Conn) (socketState, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return socketUnknown, nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return socketUnknown, err
	}

	var n int
	var peekErr error
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, peekErr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for the socket to become readable
	})
	switch {
	case err != nil:
		return socketClosed, err
	case errors.Is(peekErr, syscall.EAGAIN) || errors.Is(peekErr, syscall.EWOULDBLOCK):
		return socketIdle, nil
	case peekErr != nil:
		return socketClosed, peekErr
	case n == 0:
		return socketClosed, nil
	}
	return socketReadable, nil
}
