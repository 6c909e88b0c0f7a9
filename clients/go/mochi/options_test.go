package mochi_test

// Dial's key and TLS options against an in-process server that records what
// each call carries: no live server needed.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// recorder notes, for each call, "Method authorization client", the last
// two "-" when absent.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) note(ctx context.Context, method string) {
	auth, client := "-", "-"
	if values := metadata.ValueFromIncomingContext(ctx, "authorization"); len(values) > 0 {
		auth = strings.Join(values, ",")
	}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			client = info.State.PeerCertificates[0].Subject.CommonName
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, path.Base(method)+" "+auth+" "+client)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.calls
	r.calls = nil
	return calls
}

type fakeSessions struct {
	mochiv1.UnimplementedSessionServiceServer
}

func (fakeSessions) CreateSession(_ context.Context, req *mochiv1.CreateSessionRequest) (*mochiv1.CreateSessionResponse, error) {
	return &mochiv1.CreateSessionResponse{Session: &mochiv1.Session{SessionId: "s1", Model: req.GetModel()}}, nil
}

// fakeChats drops every ChatStream after its first event; WatchTurn ends
// the turn.
type fakeChats struct {
	mochiv1.UnimplementedChatServiceServer
}

func (fakeChats) ChatStream(_ *mochiv1.ChatStreamRequest, stream mochiv1.ChatService_ChatStreamServer) error {
	if err := stream.SendHeader(metadata.Pairs(mochi.TurnIDHeader, "t1")); err != nil {
		return err
	}
	first := delta("You said")
	first.EventId = "t1:1"
	if err := stream.Send(first); err != nil {
		return err
	}
	return status.Error(codes.Unavailable, "dropped")
}

func (fakeChats) WatchTurn(req *mochiv1.WatchTurnRequest, stream mochiv1.ChatService_WatchTurnServer) error {
	rest := delta(": hi")
	rest.EventId = "t1:2"
	done := &mochiv1.ChatEvent{EventId: "t1:3", Event: &mochiv1.ChatEvent_Done{Done: &mochiv1.Done{SessionId: req.GetSessionId()}}}
	for _, event := range []*mochiv1.ChatEvent{rest, done} {
		if err := stream.Send(event); err != nil {
			return err
		}
	}
	return nil
}

func (fakeChats) CancelTurn(context.Context, *mochiv1.CancelTurnRequest) (*mochiv1.CancelTurnResponse, error) {
	return &mochiv1.CancelTurnResponse{TurnId: "t1"}, nil
}

// serve starts the fake server (over TLS when config is not nil) and
// returns its address and what it records.
func serve(t *testing.T, config *tls.Config) (string, *recorder) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := &recorder{}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			seen.note(ctx, info.FullMethod)
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			seen.note(ss.Context(), info.FullMethod)
			return handler(srv, ss)
		}),
	}
	if config != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(config)))
	}
	server := grpc.NewServer(opts...)
	mochiv1.RegisterSessionServiceServer(server, fakeSessions{})
	mochiv1.RegisterChatServiceServer(server, fakeChats{})
	go server.Serve(listener)
	t.Cleanup(server.Stop)
	return listener.Addr().String(), seen
}

// exercise makes a unary call and a resumed stream (ChatStream, dropped,
// then WatchTurn) and returns the first error.
func exercise(t *testing.T, target string, opts ...grpc.DialOption) error {
	t.Helper()
	client, err := mochi.Dial(target, opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := client.CreateSession(ctx, "m"); err != nil {
		return err
	}
	req := say("s1", "hi")
	req.ContinueOnDisconnect = true
	var text strings.Builder
	for event, err := range client.ChatStream(ctx, req) {
		if err != nil {
			return err
		}
		text.WriteString(event.GetContentDelta().GetContent())
	}
	if got := text.String(); got != "You said: hi" {
		t.Errorf("streamed %q, want the resumed whole %q", got, "You said: hi")
	}
	_, err = client.CancelTurn(ctx, "s1", "")
	return err
}

// clearEnv empties FromEnv's variables for the test.
func clearEnv(t *testing.T) {
	for _, name := range []string{mochi.EnvAPIKey, mochi.EnvTLSCAFile, mochi.EnvTLSCertFile, mochi.EnvTLSKeyFile, mochi.EnvTLSServerName} {
		t.Setenv(name, "")
	}
}

func TestAPIKeyGoesWithEveryCall(t *testing.T) {
	target, seen := serve(t, nil)
	clearEnv(t)
	callsWith := func(auth string) []string {
		var calls []string
		for _, method := range []string{"CreateSession", "ChatStream", "WatchTurn", "CancelTurn"} {
			calls = append(calls, method+" "+auth+" -")
		}
		return calls
	}
	tests := []struct {
		name string
		env  string // MOCHI_API_KEY
		opts []grpc.DialOption
		want []string
	}{
		{"no option", "", nil, callsWith("-")},
		{"WithAPIKey", "", []grpc.DialOption{mochi.WithAPIKey(" key-1\n")}, callsWith("Bearer key-1")},
		{"FromEnv", "key-2", []grpc.DialOption{mochi.FromEnv()}, callsWith("Bearer key-2")},
		{"FromEnv without a key", "", []grpc.DialOption{mochi.FromEnv()}, callsWith("-")},
		{"WithAPIKey after FromEnv", "key-2", []grpc.DialOption{mochi.FromEnv(), mochi.WithAPIKey("key-3")}, callsWith("Bearer key-3")},
		{"no key after FromEnv", "key-2", []grpc.DialOption{mochi.FromEnv(), mochi.WithAPIKey("")}, callsWith("-")},
		{"without the environment", "key-2", nil, callsWith("-")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(mochi.EnvAPIKey, tt.env)
			if err := exercise(t, target, tt.opts...); err != nil {
				t.Fatal(err)
			}
			if got := seen.take(); !slices.Equal(got, tt.want) {
				t.Errorf("calls = %q, want %q", got, tt.want)
			}
		})
	}
}

// certificates writes a CA, a certificate for the server named "mochi.test"
// and one for the client "mochi-client", each with its key, into a
// directory: ca.pem, server.pem, server.key, client.pem, client.key.
func certificates(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "mochi test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	write(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caCert.Raw)
	for name, template := range map[string]*x509.Certificate{
		"server": {Subject: pkix.Name{CommonName: "mochi.test"}, DNSNames: []string{"mochi.test"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		"client": {Subject: pkix.Name{CommonName: "mochi-client"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	} {
		key, cert := issue(t, template, caCert, caKey)
		write(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", cert.Raw)
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, name+".key"), "PRIVATE KEY", der)
	}
	return dir
}

// issue makes a key and a certificate for it from template, signed by
// parent (nil: self-signed).
func issue(t *testing.T, template, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	template.SerialNumber = serial
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func write(t *testing.T, file, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMutualTLS(t *testing.T) {
	dir := certificates(t)
	file := func(name string) string { return filepath.Join(dir, name) }
	serverCert, err := tls.LoadX509KeyPair(file("server.pem"), file("server.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(file("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	clients.AppendCertsFromPEM(caPEM)
	target, seen := serve(t, &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clients,
	})

	t.Run("WithTLS", func(t *testing.T) {
		clearEnv(t)
		err := exercise(t, target, mochi.WithTLS(file("ca.pem"), file("client.pem"), file("client.key")),
			mochi.WithTLSServerName("mochi.test"), mochi.WithAPIKey("key-1"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"CreateSession Bearer key-1 mochi-client", "ChatStream Bearer key-1 mochi-client",
			"WatchTurn Bearer key-1 mochi-client", "CancelTurn Bearer key-1 mochi-client"}
		if got := seen.take(); !slices.Equal(got, want) {
			t.Errorf("calls = %q, want %q", got, want)
		}
	})
	t.Run("FromEnv", func(t *testing.T) {
		t.Setenv(mochi.EnvAPIKey, "key-2")
		t.Setenv(mochi.EnvTLSCAFile, file("ca.pem"))
		t.Setenv(mochi.EnvTLSCertFile, file("client.pem"))
		t.Setenv(mochi.EnvTLSKeyFile, file("client.key"))
		t.Setenv(mochi.EnvTLSServerName, "mochi.test")
		if err := exercise(t, target, mochi.FromEnv()); err != nil {
			t.Fatal(err)
		}
		if got := seen.take(); len(got) != 4 || got[0] != "CreateSession Bearer key-2 mochi-client" {
			t.Errorf("calls = %q, want four with key-2 from mochi-client", got)
		}
	})

	// Each of these fails at once, not after a timeout, and reaches no
	// method.
	refused := []struct {
		name string
		opts []grpc.DialOption
	}{
		{"plaintext", nil},
		{"the system's roots", []grpc.DialOption{mochi.WithTLS("", file("client.pem"), file("client.key")),
			mochi.WithTLSServerName("mochi.test")}},
		{"no client certificate", []grpc.DialOption{mochi.WithTLS(file("ca.pem"), "", ""), mochi.WithTLSServerName("mochi.test")}},
		{"a name the certificate lacks", []grpc.DialOption{mochi.WithTLS(file("ca.pem"), file("client.pem"), file("client.key"))}},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			clearEnv(t)
			err := exercise(t, target, append(tt.opts, mochi.WithAPIKey("key-1"))...)
			if status.Code(err) != codes.Unavailable {
				t.Errorf("error %v, want UNAVAILABLE", err)
			}
			if got := seen.take(); len(got) != 0 {
				t.Errorf("calls = %q, want none", got)
			}
		})
	}
}

func TestDialRefusesHalfSettings(t *testing.T) {
	dir := certificates(t)
	file := func(name string) string { return filepath.Join(dir, name) }
	ca, cert, key := file("ca.pem"), file("client.pem"), file("client.key")
	tests := []struct {
		name string
		env  map[string]string
		opts []grpc.DialOption
		want string // in the error
	}{
		{"a certificate without its key", nil, []grpc.DialOption{mochi.WithTLS(ca, cert, "")},
			"mochi.WithTLS: certFile is set but keyFile is not"},
		{"a key without its certificate", nil, []grpc.DialOption{mochi.WithTLS(ca, "", key)},
			"mochi.WithTLS: keyFile is set but certFile is not"},
		{"a server name without TLS", nil, []grpc.DialOption{mochi.WithTLSServerName("mochi.test")},
			"WithTLSServerName needs WithTLS"},
		{"no CA file", nil, []grpc.DialOption{mochi.WithTLS(file("missing.pem"), "", "")}, "missing.pem"},
		{"no certificate in the CA file", nil, []grpc.DialOption{mochi.WithTLS(key, "", "")}, "no PEM certificate"},
		{"a key that is not the certificate's", nil, []grpc.DialOption{mochi.WithTLS(ca, cert, file("server.key"))},
			"client certificate"},
		{"a key a header cannot carry", nil, []grpc.DialOption{mochi.WithAPIKey("two words")}, "API key"},
		{"env: a certificate without its key",
			map[string]string{mochi.EnvTLSCAFile: ca, mochi.EnvTLSCertFile: cert}, []grpc.DialOption{mochi.FromEnv()},
			"MOCHI_GRPC_TLS_CERT_FILE is set but MOCHI_GRPC_TLS_KEY_FILE is not"},
		{"env: a key without its certificate",
			map[string]string{mochi.EnvTLSCAFile: ca, mochi.EnvTLSKeyFile: key}, []grpc.DialOption{mochi.FromEnv()},
			"MOCHI_GRPC_TLS_KEY_FILE is set but MOCHI_GRPC_TLS_CERT_FILE is not"},
		{"env: a certificate without the CA",
			map[string]string{mochi.EnvTLSCertFile: cert, mochi.EnvTLSKeyFile: key}, []grpc.DialOption{mochi.FromEnv()},
			"MOCHI_GRPC_TLS_CERT_FILE needs MOCHI_GRPC_TLS_CA_FILE"},
		{"env: a server name without the CA",
			map[string]string{mochi.EnvTLSServerName: "mochi.test"}, []grpc.DialOption{mochi.FromEnv()},
			"MOCHI_GRPC_TLS_SERVER_NAME needs MOCHI_GRPC_TLS_CA_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for name, value := range tt.env {
				t.Setenv(name, value)
			}
			client, err := mochi.Dial("127.0.0.1:1", tt.opts...)
			if err == nil {
				client.Close()
				t.Fatalf("Dial succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial: %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "two words") {
				t.Errorf("Dial: %v: the error shows the key", err)
			}
		})
	}
}
