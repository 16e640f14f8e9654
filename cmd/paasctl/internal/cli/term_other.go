//go:build !linux

package cli

// echoOff cannot turn echo off on this platform; use --password-stdin to
// keep the password off the screen.
func echoOff(int) (restore func()) { return func() {} }
