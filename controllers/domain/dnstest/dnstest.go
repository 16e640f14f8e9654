// Package dnstest runs a DNS server for tests: it answers TXT questions
// from records the test sets, on a loopback UDP port, so domain checks run
// against a real resolver exchange without reaching the internet.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers TXT questions from Records; build one with Start.
type Server struct {
	// Addr is the server's host:port, for domain.NewResolver.
	Addr string

	mu      sync.Mutex
	records map[string][]string // fully qualified lower-case name -> TXT values
	srv     *dns.Server
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dnstest: listen: %v", err)
	}
	s := &Server{Addr: pc.LocalAddr().String(), records: map[string][]string{}}
	started := make(chan struct{})
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = s.srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = s.srv.Shutdown() })
	return s
}

// Set makes name answer with the TXT values (none removes the name).
func (s *Server) Set(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fq := dns.Fqdn(strings.ToLower(name))
	if len(values) == 0 {
		delete(s.records, fq)
		return
	}
	s.records[fq] = values
}

// serve answers one query: the TXT values of a known name, NXDOMAIN
// otherwise.
func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, q := range req.Question {
		values, ok := s.records[strings.ToLower(q.Name)]
		if !ok {
			continue
		}
		found = true
		if q.Qtype != dns.TypeTXT {
			continue
		}
		for _, v := range values {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 0}, Txt: []string{v}})
		}
	}
	if !found {
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}
