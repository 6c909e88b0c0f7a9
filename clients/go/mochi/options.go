package mochi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// The environment FromEnv reads: the names the HTTP bridge uses.
const (
	EnvAPIKey        = "MOCHI_API_KEY"
	EnvTLSCAFile     = "MOCHI_GRPC_TLS_CA_FILE"
	EnvTLSCertFile   = "MOCHI_GRPC_TLS_CERT_FILE"
	EnvTLSKeyFile    = "MOCHI_GRPC_TLS_KEY_FILE"
	EnvTLSServerName = "MOCHI_GRPC_TLS_SERVER_NAME"
)

// roundRobin spreads calls over every address the target resolves to (the
// replicas behind "dns:///name:port", say), each call to one that is
// connected, so a replica that is down is skipped; grpc-go's default,
// pick_first, would send every call to one address. A service config from
// the resolver, or a grpc.WithDefaultServiceConfig of the caller's, wins.
const roundRobin = `{"loadBalancingConfig": [{"round_robin": {}}]}`

// option is one of Dial's own options. It is a grpc.DialOption, so that it
// goes among grpc's in Dial's arguments, but only Dial reads it:
// grpc.NewClient ignores it.
type option struct {
	grpc.EmptyDialOption
	apply func(*security) error
}

// security is what Dial's own options set.
type security struct {
	apiKey     string
	tls        *tlsFiles // nil: plaintext
	serverName string
}

// tlsFiles are PEM files: the CA ("" = the system's roots) and the client
// certificate chain and its key (both or neither).
type tlsFiles struct{ ca, cert, key string }

// WithAPIKey sends token with every call, unary and streaming (the
// resuming WatchTurn calls included), as the metadata
// `authorization: Bearer <token>`, which a server that requires API keys
// (MOCHI_AUTH=required) checks. An empty token sends none, undoing an
// earlier WithAPIKey or FromEnv.
//
// The key goes on plaintext connections too, for a server that requires keys
// there (on loopback, or behind a proxy that terminates TLS): anyone who can
// watch that traffic can read it. Across a network, use WithTLS.
func WithAPIKey(token string) grpc.DialOption {
	return option{apply: func(s *security) error {
		s.apiKey = strings.TrimSpace(token)
		return nil
	}}
}

// WithTLS makes the connection TLS. caFile is the CA (PEM) that signed the
// server's certificate; "" trusts the system's roots instead. certFile and
// keyFile, both or neither, are the client's certificate chain and private
// key (PEM), for a server that requires one (mutual TLS). The files are read
// when Dial runs; a missing or unreadable one is Dial's error.
func WithTLS(caFile, certFile, keyFile string) grpc.DialOption {
	return option{apply: func(s *security) error {
		switch {
		case certFile != "" && keyFile == "":
			return errors.New("mochi.WithTLS: certFile is set but keyFile is not: a client certificate needs its key")
		case keyFile != "" && certFile == "":
			return errors.New("mochi.WithTLS: keyFile is set but certFile is not: a client key needs its certificate")
		}
		s.tls = &tlsFiles{ca: caFile, cert: certFile, key: keyFile}
		return nil
	}}
}

// WithTLSServerName is the name the server's certificate must carry, when
// the target does not say it (e.g. the target is an IP address and the
// certificate names the host). It needs WithTLS.
func WithTLSServerName(name string) grpc.DialOption {
	return option{apply: func(s *security) error {
		s.serverName = name
		return nil
	}}
}

// FromEnv takes the API key and TLS settings from the environment, as the
// HTTP bridge does, when Dial runs:
//
//   - MOCHI_API_KEY: the token, as WithAPIKey;
//   - MOCHI_GRPC_TLS_CA_FILE: the CA (PEM); set, the connection is TLS;
//   - MOCHI_GRPC_TLS_CERT_FILE and MOCHI_GRPC_TLS_KEY_FILE: the client's
//     certificate chain and key (PEM), both or neither, with the CA;
//   - MOCHI_GRPC_TLS_SERVER_NAME: as WithTLSServerName, with the CA.
//
// Unset (or empty) variables change nothing, so with none set the connection
// stays plaintext and keyless; options after FromEnv override it. Half a TLS
// setting (a certificate without its key, or without the CA) is Dial's error
// rather than a silent plaintext connection.
func FromEnv() grpc.DialOption {
	return option{apply: func(s *security) error {
		get := os.Getenv
		if key := get(EnvAPIKey); key != "" {
			s.apiKey = strings.TrimSpace(key)
		}
		ca, cert, key, name := get(EnvTLSCAFile), get(EnvTLSCertFile), get(EnvTLSKeyFile), get(EnvTLSServerName)
		switch {
		case cert != "" && key == "":
			return fmt.Errorf("%s is set but %s is not: a client certificate needs its key", EnvTLSCertFile, EnvTLSKeyFile)
		case key != "" && cert == "":
			return fmt.Errorf("%s is set but %s is not: a client key needs its certificate", EnvTLSKeyFile, EnvTLSCertFile)
		case ca == "" && (cert != "" || name != ""):
			given := EnvTLSCertFile
			if cert == "" {
				given = EnvTLSServerName
			}
			return fmt.Errorf("%s needs %s, the CA that signed the server's certificate: "+
				"without it the connection would be plaintext", given, EnvTLSCAFile)
		case ca != "":
			s.tls = &tlsFiles{ca: ca, cert: cert, key: key}
			if name != "" {
				s.serverName = name
			}
		}
		return nil
	}}
}

// splitOptions applies Dial's own options, in order, and returns the
// grpc.DialOptions they make followed by the others.
func splitOptions(opts []grpc.DialOption) ([]grpc.DialOption, error) {
	var s security
	var rest []grpc.DialOption
	for _, opt := range opts {
		own, ok := opt.(option)
		if !ok {
			rest = append(rest, opt)
			continue
		}
		if err := own.apply(&s); err != nil {
			return nil, err
		}
	}
	made, err := s.dialOptions()
	if err != nil {
		return nil, err
	}
	return append(made, rest...), nil
}

func (s *security) dialOptions() ([]grpc.DialOption, error) {
	transport := insecure.NewCredentials()
	if s.tls != nil {
		config, err := s.tls.config(s.serverName)
		if err != nil {
			return nil, err
		}
		transport = credentials.NewTLS(config)
	} else if s.serverName != "" {
		return nil, errors.New("mochi.WithTLSServerName needs WithTLS: without it the connection is plaintext")
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(transport), grpc.WithDefaultServiceConfig(roundRobin)}
	if s.apiKey != "" {
		// Never the token itself in an error: it may end up in a log.
		for _, r := range s.apiKey {
			if r < 0x21 || r > 0x7e {
				return nil, errors.New("the API key holds a character a gRPC header cannot carry (only visible ASCII)")
			}
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{s.apiKey}))
	}
	return opts, nil
}

func (f *tlsFiles) config(serverName string) (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("TLS: reading the CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS: no PEM certificate in the CA file %s", f.ca)
		}
		config.RootCAs = pool
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("TLS: the client certificate %s and key %s: %w", f.cert, f.key, err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

// bearer sends an API key with every call.
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false: a server may require keys on a
// plaintext port (see WithAPIKey).
func (bearer) RequireTransportSecurity() bool { return false }
