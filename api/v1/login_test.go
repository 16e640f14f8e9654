package v1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	v1 "github.com/skypanel/paas/api/v1"
)

// loginFrom logs in from a source address of its own: the TCP connection
// is made from src (any 127.0.0.0/8 address on Linux), so the server sees
// a distinct peer as it would distinct clients.
func (f *fixture) loginFrom(src, email, password string, hdrs ...string) *res {
	f.t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, err := http.NewRequestWithContext(context.Background(), "POST", f.srv.URL+"/api/auth/login", bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdrs); i += 2 {
		req.Header.Set(hdrs[i], hdrs[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		f.t.Fatalf("login from %s: %v", src, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := &res{t: f.t, Code: resp.StatusCode, Header: resp.Header, Body: b, req: "POST /api/auth/login from " + src}
	checkContract(f.t, req, r)
	return r
}

// TestLoginCannotLockOutAVictim: an attacker hammering a victim's email
// from one address is held back, while the victim, from another address,
// logs in at once.
func TestLoginCannotLockOutAVictim(t *testing.T) {
	t.Parallel()
	f := setup(t)
	limited := 0
	for range 30 {
		if r := f.loginFrom("127.0.0.2", "alice@example.com", "guess-guess"); r.Code == http.StatusTooManyRequests {
			limited++
		} else {
			r.want(401)
		}
	}
	if limited == 0 {
		t.Fatal("30 wrong passwords from one address were never slowed down")
	}
	f.loginFrom("127.0.0.3", "alice@example.com", testPassword).want(200)
}

// TestLoginBackoffDoubles: after a few failures, each further failure of
// an email from one address doubles the wait, up to a cap; a success
// clears it. (Waits of minutes, so the test's own pace hardly matters.)
func TestLoginBackoffDoubles(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) {
		d.LoginAttemptsPerMinute = 1000 // the per-address budget is not what this test is about
		d.LoginBackoffBase, d.LoginBackoffMax = time.Minute, 16*time.Minute
	})
	fail := func() { f.loginFrom("127.0.0.2", "bob@example.com", "guess-guess").want(401) }
	for range 5 {
		fail()
	}
	for i, want := range []int{60, 120, 240, 480, 960, 960, 960} {
		r := f.loginFrom("127.0.0.2", "bob@example.com", testPassword)
		r.problem(429, "rate-limited")
		got, err := strconv.Atoi(r.Header.Get("Retry-After"))
		// Slack for the test's own pace (bcrypt under -race on a busy
		// machine): still half a step, so each wait is told from the next.
		if err != nil || got > want || got <= want/2 {
			t.Fatalf("wait %d: Retry-After %q, want %d seconds", i, r.Header.Get("Retry-After"), want)
		}
		f.clock.Advance(time.Duration(got) * time.Second)
		fail()
	}
	// The last wait over, the right password works and ends the streak.
	f.clock.Advance(16 * time.Minute)
	f.loginFrom("127.0.0.2", "bob@example.com", testPassword).want(200)
	for range 5 {
		fail()
	}
	// A streak also ends after a while without attempts.
	f.loginFrom("127.0.0.2", "bob@example.com", testPassword).problem(429, "rate-limited")
	f.clock.Advance(49 * time.Minute)
	for range 5 {
		fail()
	}
}

// TestLoginIgnoresSpoofedForwardedFor: X-Forwarded-For from a peer that is
// not a trusted proxy changes nothing, so a client cannot pick a fresh
// address per attempt.
func TestLoginIgnoresSpoofedForwardedFor(t *testing.T) {
	t.Parallel()
	f := setup(t)
	codes := map[int]int{}
	for i := range 12 {
		r := f.loginFrom("127.0.0.2", "nobody"+strconv.Itoa(i)+"@example.com", "guess-guess",
			"X-Forwarded-For", "198.51.100."+strconv.Itoa(i+1))
		codes[r.Code]++
	}
	if codes[401] != 10 || codes[429] != 2 {
		t.Fatalf("answers %v: the per-address limit (10 a minute) did not hold against spoofed X-Forwarded-For", codes)
	}
}

// TestLoginBehindTrustedProxy: from a trusted proxy, X-Forwarded-For names
// the client, read from the right, so clients behind the proxy have
// budgets of their own and cannot prepend an address of their choosing.
func TestLoginBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	proxies, err := v1.ParseTrustedProxies("127.0.0.1, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	f := setup(t, func(d *v1.Deps) { d.TrustedProxies = proxies })
	codes := map[int]int{}
	for i := range 12 {
		// The attacker writes a header of its own; the proxy appends its address.
		r := f.loginFrom("127.0.0.1", "nobody"+strconv.Itoa(i)+"@example.com", "guess-guess",
			"X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1)+", 198.51.100.7, 10.1.2.3")
		codes[r.Code]++
	}
	if codes[401] != 10 || codes[429] != 2 {
		t.Fatalf("answers %v: attempts from 198.51.100.7 were not limited as one client", codes)
	}
	f.loginFrom("127.0.0.1", "alice@example.com", testPassword, "X-Forwarded-For", "198.51.100.8").want(200)
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	got, err := v1.ParseTrustedProxies(" 10.0.0.0/8,172.18.0.5 , ::1,, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "172.18.0.5/32", "::1/128", "fd00::/8"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.local", "10.0.0.1/x"} {
		if _, err := v1.ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
